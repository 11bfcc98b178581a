// UpstreamSockets: where the data path gets the socket of each new session — a connected UDP
// socket in production, a socket the test holds the other end of in unit tests.
#pragma once

#include "net/address.h"
#include "net/unique_fd.h"

namespace udpx {

// Called once per new session, never per datagram: the datagrams themselves go through plain
// send/sendmmsg/recvmmsg on the returned fd.
class UpstreamSockets {
 public:
  virtual ~UpstreamSockets() = default;
  // A non-blocking socket whose datagrams reach `server` and which receives only from it. On
  // failure: an invalid fd, and `error` holds the errno (EMFILE when out of descriptors).
  virtual UniqueFd open(const SockAddr& server, int& error) noexcept = 0;
};

// One connected UDP socket per session: connect() picks a random ephemeral port and makes the
// kernel filter out datagrams from anyone but the server.
class ConnectedUdpSockets final : public UpstreamSockets {
 public:
  UniqueFd open(const SockAddr& server, int& error) noexcept override;
};

}  // namespace udpx

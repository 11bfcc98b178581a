// Listening UDP (and TCP) sockets: opened here with the options the data path relies on, or taken over
// from elsewhere (systemd, --listen-fd, the binder) and matched to the configured listen
// addresses; and the one wording of bind errors, with a hint a person can act on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "net/address.h"
#include "net/unique_fd.h"

namespace udpx {

// The kind of socket a bind failed for: the hint names the matching `ss` listing.
enum class Transport : std::uint8_t { Udp, Tcp };

// One socket a frontend listens on: an address and its transport.
struct ListenEndpoint {
  SockAddr addr;
  Transport transport = Transport::Udp;
  bool operator==(const ListenEndpoint&) const = default;
};
// "udp 127.0.0.1:53", "tcp [::1]:53" for messages.
std::string endpointText(const ListenEndpoint& e);

// What the caller can tell a person to change, appended to the hint of that error
// ("; use e.g. 9123"); empty: nothing to add.
struct BindAdvice {
  std::string_view in_use;      // EADDRINUSE
  std::string_view privileged;  // EACCES for a port below 1024
  std::string_view not_local;   // EADDRNOTAVAIL
};

// "strerror — hint" for the errno `err` of socket(), bind() or listen() for `addr`: why it
// failed (another process has the port, the address is not local, ...) and where to look.
// Errors without a known cause are strerror alone.
std::string bindError(int err, const SockAddr& addr, Transport transport, const BindAdvice& advice = {});

// Opens a non-blocking UDP socket bound to `addr`, with the destination address of each
// datagram reported (IP_PKTINFO / IPV6_RECVPKTINFO) so replies can leave from it, and large
// socket buffers. On failure returns an invalid fd and sets `error` to "strerror — hint".
UniqueFd openListenSocket(const SockAddr& addr, std::string& error);

// Opens a non-blocking TCP socket bound to `addr` and listening (SO_REUSEADDR, so a restart
// does not wait for TIME_WAIT; IPV6_V6ONLY as for UDP). On failure as openListenSocket.
UniqueFd openTcpListenSocket(const SockAddr& addr, std::string& error);
// openListenSocket or openTcpListenSocket.
UniqueFd openEndpointSocket(const ListenEndpoint& e, std::string& error);

// The local address and transport of an inherited or handed-over socket: a bound UDP socket, or
// a listening TCP socket. On failure returns an empty address and sets `error`.
ListenEndpoint boundEndpoint(int fd, std::string& error);

// The local address an inherited or handed-over socket is bound to, after checking it is a bound
// IPv4/IPv6 UDP socket. On failure returns an empty SockAddr and sets `error`.
SockAddr boundUdpAddress(int fd, std::string& error);

// Gives a socket udpx did not create itself (systemd, --listen-fd) the options openListenSocket
// sets: non-blocking, close-on-exec, destination addresses reported, large buffers (for a TCP
// listener only non-blocking and close-on-exec).
// IPV6_V6ONLY cannot change after bind; a dual-stack [::] socket is reported in `warning`.
bool prepareInheritedSocket(int fd, const SockAddr& bound, std::string& error, std::string& warning,
                            Transport transport = Transport::Udp);

// True if a socket bound to `bound` serves the configured listen address `configured`
// (equal, or the same address when the configured port is 0).
bool listenAddressMatches(const SockAddr& configured, const SockAddr& bound) noexcept;

// A configured listen address and, once one is found or opened, the socket that serves it.
struct ListenSlot {
  SockAddr addr;
  UniqueFd fd;
  Transport transport = Transport::Udp;
};

// Which of `slots` a socket bound to `bound` serves: the first still without a socket whose
// address listenAddressMatches `bound`. nullopt: none (no such address, or it has its socket).
std::optional<std::size_t> findListenSlot(std::span<const ListenSlot> slots, const SockAddr& bound,
                                          Transport transport = Transport::Udp) noexcept;

}  // namespace udpx

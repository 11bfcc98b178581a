// Connected UDP sockets for the sessions of the data path.
#include "dataplane/upstream.h"

#include <sys/socket.h>

#include <cerrno>

namespace udpx {

UniqueFd ConnectedUdpSockets::open(const SockAddr& server, int& error) noexcept {
  UniqueFd fd(socket(server.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid() || connect(fd.get(), server.get(), server.length()) != 0) {
    error = errno;
    return {};
  }
  return fd;
}

}  // namespace udpx

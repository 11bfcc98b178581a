// Listening sockets: creation with the options the data path relies on, and errors a person
// can act on.
#include "frontends/frontend.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace udpx {
namespace {

// Large buffers absorb bursts while the loop is busy elsewhere; SO_RCVBUFFORCE works as root
// (beyond net.core.rmem_max), otherwise the kernel caps SO_RCVBUF at rmem_max.
void setBuffer(int fd, int force_opt, int opt, int bytes) noexcept {
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) != 0) {
    setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
  }
}

std::string hintFor(int err, const SockAddr& addr) {
  switch (err) {
    case EACCES:
      if (addr.port() < 1024) return " — ports below 1024 need root or CAP_NET_BIND_SERVICE";
      return "";
    case EADDRINUSE:
      return " — another process already uses this port (see: ss -ulpn 'sport = :" + std::to_string(addr.port()) + "')";
    case EADDRNOTAVAIL:
      return " — the address is not assigned to any local interface (see: ip address)";
    case EAFNOSUPPORT:
      return " — this host has no support for the address family (IPv6 disabled?)";
    default:
      return "";
  }
}

}  // namespace

UniqueFd openListenSocket(const SockAddr& addr, std::string& error) {
  UniqueFd fd(socket(addr.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    int e = errno;
    error = std::string(strerror(e)) + hintFor(e, addr);
    return {};
  }
  int one = 1;
  if (addr.family() == AF_INET6) {
    // NOTE: without V6ONLY a [::] listener also takes IPv4 as mapped addresses and collides
    // with a separate 0.0.0.0 listener; udpx wants one socket per configured address.
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
  } else {
    setsockopt(fd.get(), IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  }
  // 16 MiB (the kernel doubles it) queues some 40,000 small datagrams (about 830 bytes of kernel
  // memory each): every one of 10,000 clients can have a couple in flight while the loop is busy.
  // Memory is only used while datagrams wait.
  setBuffer(fd.get(), SO_RCVBUFFORCE, SO_RCVBUF, 16 << 20);
  setBuffer(fd.get(), SO_SNDBUFFORCE, SO_SNDBUF, 4 << 20);
  if (bind(fd.get(), addr.get(), addr.length()) != 0) {
    int e = errno;
    error = std::string(strerror(e)) + hintFor(e, addr);
    return {};
  }
  return fd;
}

}  // namespace udpx

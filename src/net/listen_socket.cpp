// Listening sockets: creation and take-over with the options the data path relies on, their
// matching to listen addresses, and errors a person can act on.
#include "net/listen_socket.h"

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

// 16 MiB (the kernel doubles it) queues some 40,000 small datagrams (about 830 bytes of kernel
// memory each): every one of 10,000 clients can have a couple in flight while the loop is busy.
// Memory is only used while datagrams wait.
constexpr int kReceiveBuffer = 16 << 20;
constexpr int kSendBuffer = 4 << 20;

// What every listening socket needs, whoever created it: the destination address of each
// datagram reported (the address its replies leave from), and large buffers.
bool setListenOptions(int fd, int family, std::string& error) {
  const int one = 1;
  const int rc = family == AF_INET6 ? setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one)
                                    : setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
  if (rc != 0) {
    error = std::string("cannot enable destination address reporting: ") + strerror(errno);
    return false;
  }
  setBuffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, kReceiveBuffer);
  setBuffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, kSendBuffer);
  return true;
}

}  // namespace

std::string bindError(int err, const SockAddr& addr, Transport transport, const BindAdvice& advice) {
  std::string out = strerror(err);
  const bool tcp = transport == Transport::Tcp;
  switch (err) {
    case EACCES:
      if (addr.port() < 1024) {
        out += " — ports below 1024 need root or CAP_NET_BIND_SERVICE";
        out += advice.privileged;
      }
      break;
    case EADDRINUSE:
      out += tcp ? " — another process already listens on this port (see: ss -tlpn 'sport = :"
                 : " — another process already uses this port (see: ss -ulpn 'sport = :";
      out += std::to_string(addr.port()) + "')";
      out += advice.in_use;
      break;
    case EADDRNOTAVAIL:
      out += " — the address is not assigned to any local interface (see: ip address)";
      out += advice.not_local;
      break;
    case EAFNOSUPPORT:
      out += " — this host has no support for the address family (IPv6 disabled?)";
      break;
    default:
      break;
  }
  return out;
}

UniqueFd openListenSocket(const SockAddr& addr, std::string& error) {
  UniqueFd fd(socket(addr.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    error = bindError(errno, addr, Transport::Udp);
    return {};
  }
  if (addr.family() == AF_INET6) {
    // NOTE: without V6ONLY a [::] listener also takes IPv4 as mapped addresses and collides
    // with a separate 0.0.0.0 listener; udpx wants one socket per configured address.
    const int one = 1;
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (!setListenOptions(fd.get(), addr.family(), error)) return {};
  if (bind(fd.get(), addr.get(), addr.length()) != 0) {
    error = bindError(errno, addr, Transport::Udp);
    return {};
  }
  return fd;
}

std::string endpointText(const ListenEndpoint& e) {
  return std::string(e.transport == Transport::Tcp ? "tcp " : "udp ") + e.addr.toString();
}

UniqueFd openTcpListenSocket(const SockAddr& addr, std::string& error) {
  UniqueFd fd(socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    error = bindError(errno, addr, Transport::Tcp);
    return {};
  }
  const int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (addr.family() == AF_INET6) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd.get(), addr.get(), addr.length()) != 0 || listen(fd.get(), SOMAXCONN) != 0) {
    error = bindError(errno, addr, Transport::Tcp);
    return {};
  }
  return fd;
}

UniqueFd openEndpointSocket(const ListenEndpoint& e, std::string& error) {
  return e.transport == Transport::Tcp ? openTcpListenSocket(e.addr, error) : openListenSocket(e.addr, error);
}

namespace {

// The address an inherited socket is bound to; empty (and error set) when it has none we serve.
SockAddr localAddress(int fd, std::string& error) {
  sockaddr_in6 sa{};
  socklen_t len = sizeof sa;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    error = std::string("getsockname failed: ") + strerror(errno);
    return {};
  }
  SockAddr a(reinterpret_cast<const sockaddr*>(&sa), len);
  if (a.empty()) error = "not an IPv4 or IPv6 socket";
  return a;
}

}  // namespace

ListenEndpoint boundEndpoint(int fd, std::string& error) {
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    error = std::string("not a socket: ") + strerror(errno);
    return {};
  }
  if (type == SOCK_DGRAM) return {boundUdpAddress(fd, error), Transport::Udp};
  if (type != SOCK_STREAM) {
    error = "neither a datagram nor a stream socket (SO_TYPE " + std::to_string(type) + ")";
    return {};
  }
  int listening = 0;
  len = sizeof listening;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening == 0) {
    error = "a stream socket that is not listening — pass listening TCP sockets (ListenStream=)";
    return {};
  }
  SockAddr a = localAddress(fd, error);
  if (a.empty()) return {};
  return {a, Transport::Tcp};
}

SockAddr boundUdpAddress(int fd, std::string& error) {
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    error = std::string("not a socket: ") + strerror(errno);
    return {};
  }
  if (type != SOCK_DGRAM) {
    error = "not a datagram socket (SO_TYPE " + std::to_string(type) + ") — pass UDP sockets only (ListenDatagram=)";
    return {};
  }
  SockAddr a = localAddress(fd, error);
  if (a.empty()) return {};
  if (a.port() == 0) {
    error = "the socket is not bound to a port";
    return {};
  }
  return a;
}

bool prepareInheritedSocket(int fd, const SockAddr& bound, std::string& error, std::string& warning,
                            Transport transport) {
  const int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
    error = std::string("cannot set O_NONBLOCK/FD_CLOEXEC: ") + strerror(errno);
    return false;
  }
  if (transport == Transport::Tcp) return true;
  if (!setListenOptions(fd, bound.family(), error)) return false;
  if (bound.family() == AF_INET6 && bound.isWildcard()) {
    int v6only = 0;
    socklen_t len = sizeof v6only;
    if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) == 0 && !v6only) {
      warning = bound.toString() + " is dual-stack: IPv4 clients arrive as ::ffff:a.b.c.d and must be allowed "
                "as such — set BindIPv6Only=ipv6-only in the .socket unit to keep the families apart";
    }
  }
  return true;
}

bool listenAddressMatches(const SockAddr& configured, const SockAddr& bound) noexcept {
  if (configured == bound) return true;
  if (configured.port() != 0) return false;
  SockAddr c = configured;
  c.setPort(bound.port());
  return c == bound;
}

std::optional<std::size_t> findListenSlot(std::span<const ListenSlot> slots, const SockAddr& bound,
                                          Transport transport) noexcept {
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (!slots[i].fd.valid() && slots[i].transport == transport && listenAddressMatches(slots[i].addr, bound)) {
      return i;
    }
  }
  return std::nullopt;
}

}  // namespace udpx

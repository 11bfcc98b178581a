// The data path's rate limits: the one check handleRequest makes (Frontend::limiter), and the
// RATE kiss-o'-death a refused NTP client gets when its frontend says kod = true.
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstring>

#include "dataplane/frontend.h"
#include "dataplane/proxy.h"
#include "protocols/protocol.h"

namespace udpx {

bool Proxy::refused(Listener& l, std::size_t i, std::span<const std::uint8_t> pkt, ClientRecord* seen,
                    TimePoint now) noexcept {
  Frontend& fe = l.frontend;
  const auto* client = static_cast<const sockaddr*>(rx_msgs_[i].msg_hdr.msg_name);
  if (fe.limiter.admit(client, now) == RateLimiter::Verdict::Pass) return false;
  dropFor(fe, seen, Drop::RateLimited);
  if (fe.config().rate.kod && fe.protocol().rate_kiss != nullptr && fe.limiter.allowKiss(now)) sendKiss(l, i, pkt);
  return true;
}

void Proxy::sendKiss(Listener& l, std::size_t i, std::span<const std::uint8_t> pkt) noexcept {
  Frontend& fe = l.frontend;
  std::array<std::uint8_t, 64> kiss;
  const std::size_t len = fe.protocol().rate_kiss(pkt, kiss, unixNanosNow());
  if (len == 0 || len > pkt.size()) return;  // never more bytes than the request: no amplification
  msghdr& in = rx_msgs_[i].msg_hdr;
  iovec iov{kiss.data(), len};
  msghdr out{};
  out.msg_name = in.msg_name;
  out.msg_namelen = in.msg_namelen;
  out.msg_iov = &iov;
  out.msg_iovlen = 1;
  // From the address the client sent to (a wildcard listener): its IP_PKTINFO / IPV6_PKTINFO,
  // with the interface only for a link-local address (as replies do).
  alignas(cmsghdr) std::uint8_t control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
  if (l.addr.isWildcard()) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&in); c != nullptr; c = CMSG_NXTHDR(&in, c)) {
      auto* cm = reinterpret_cast<cmsghdr*>(control);
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        in_pktinfo got, pi{};
        std::memcpy(&got, CMSG_DATA(c), sizeof got);
        pi.ipi_spec_dst = got.ipi_addr;
        cm->cmsg_level = IPPROTO_IP;
        cm->cmsg_type = IP_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof pi);
        std::memcpy(CMSG_DATA(cm), &pi, sizeof pi);
        out.msg_control = control;
        out.msg_controllen = CMSG_SPACE(sizeof pi);
      } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
        in6_pktinfo got, pi{};
        std::memcpy(&got, CMSG_DATA(c), sizeof got);
        pi.ipi6_addr = got.ipi6_addr;
        if (IN6_IS_ADDR_LINKLOCAL(&got.ipi6_addr)) pi.ipi6_ifindex = got.ipi6_ifindex;
        cm->cmsg_level = IPPROTO_IPV6;
        cm->cmsg_type = IPV6_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof pi);
        std::memcpy(CMSG_DATA(cm), &pi, sizeof pi);
        out.msg_control = control;
        out.msg_controllen = CMSG_SPACE(sizeof pi);
      }
    }
  }
  if (sendmsg(l.fd.get(), &out, MSG_DONTWAIT) == static_cast<ssize_t>(len)) ++fe.stats.kod_sent;
}

}  // namespace udpx

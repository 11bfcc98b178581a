// The reply side of the data path: staging replies for clients and sending them in batches
// (both paths), and the replies that arrive on shared upstream sockets.
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "backends/backend.h"
#include "dataplane/frontend.h"
#include "dataplane/proxy.h"
#include "protocols/protocol.h"

namespace udpx {

void Proxy::stageSlot(Listener& l, Frontend& fe, const SockAddr& client, const LocalAddr& local, std::size_t buffer,
                      std::uint32_t len) noexcept {
  // Stage the reply: destination = the client, source = the address the client used.
  // A dropped datagram earlier in the batch leaves a gap: the slot index trails the buffer.
  if (buffer != tx_count_) {
    std::memcpy(tx_data_.get() + tx_count_ * slot_size_, tx_data_.get() + buffer * slot_size_, len);
  }
  ReplySlot& slot = tx_slots_[tx_count_];
  slot.listener = &l;
  slot.frontend = &fe;
  slot.len = len;
  std::memcpy(&slot.dst, client.get(), client.length());
  slot.dst_len = client.length();
  slot.control_len = 0;
  if (l.addr.isWildcard()) {
    std::memset(slot.control, 0, sizeof slot.control);
    auto* cm = reinterpret_cast<cmsghdr*>(slot.control);
    if (local.family == AF_INET) {
      cm->cmsg_level = IPPROTO_IP;
      cm->cmsg_type = IP_PKTINFO;
      cm->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
      in_pktinfo pi{};
      pi.ipi_spec_dst = local.v4;
      std::memcpy(CMSG_DATA(cm), &pi, sizeof pi);
      slot.control_len = CMSG_SPACE(sizeof(in_pktinfo));
    } else if (local.family == AF_INET6) {
      cm->cmsg_level = IPPROTO_IPV6;
      cm->cmsg_type = IPV6_PKTINFO;
      cm->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
      in6_pktinfo pi{};
      pi.ipi6_addr = local.v6;
      // Link-local sources only mean something together with their interface.
      if (IN6_IS_ADDR_LINKLOCAL(&local.v6)) pi.ipi6_ifindex = local.ifindex;
      std::memcpy(CMSG_DATA(cm), &pi, sizeof pi);
      slot.control_len = CMSG_SPACE(sizeof(in6_pktinfo));
    }
  }
  ++tx_count_;
  if (!flush_pending_) {
    flush_pending_ = true;
    event_active(flush_ev_.get(), 0, 0);
  }
}

bool Proxy::sameDestination(const ReplySlot& a, const ReplySlot& b) noexcept {
  return a.listener == b.listener && a.dst_len == b.dst_len && std::memcmp(&a.dst, &b.dst, a.dst_len) == 0 &&
         a.control_len == b.control_len && std::memcmp(a.control, b.control, a.control_len) == 0;
}

void Proxy::flushReplies() noexcept {
  flush_pending_ = false;
  std::size_t start = 0;
  while (start < tx_count_) {
    // A run of consecutive replies leaving through the same listener socket: one sendmmsg.
    // Within it, equal-sized replies in a row to the same client become one message with
    // UDP_SEGMENT (GSO): the kernel's transmit path runs once for them, the client still
    // receives separate datagrams.
    Listener* l = tx_slots_[start].listener;
    std::size_t end = start;
    std::size_t msgs = 0;
    while (end < tx_count_ && tx_slots_[end].listener == l) {
      ReplySlot& slot = tx_slots_[end];
      std::size_t count = 1;
      tx_iov_[end].iov_len = slot.len;
      if (gso_ && slot.len <= kGsoMaxSegment) {
        // At most 64 segments, and together within one UDP datagram's 65507 bytes.
        while (end + count < tx_count_ && count < kGsoMaxSegments && (count + 1) * slot.len <= 65507 &&
               tx_slots_[end + count].len == slot.len &&
               sameDestination(tx_slots_[end + count], slot)) {
          tx_iov_[end + count].iov_len = slot.len;
          ++count;
        }
      }
      msghdr& h = tx_msgs_[msgs].msg_hdr;
      h.msg_iov = &tx_iov_[end];
      h.msg_iovlen = count;
      h.msg_name = &slot.dst;
      h.msg_namelen = slot.dst_len;
      h.msg_control = slot.control_len ? slot.control : nullptr;
      h.msg_controllen = slot.control_len;
      h.msg_flags = 0;
      if (count > 1) {
        ControlGso& c = tx_gso_control_[msgs];
        std::memcpy(c.bytes, slot.control, slot.control_len);
        auto* cm = reinterpret_cast<cmsghdr*>(c.bytes + slot.control_len);
        cm->cmsg_level = SOL_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
        const auto segment = static_cast<std::uint16_t>(slot.len);
        std::memcpy(CMSG_DATA(cm), &segment, sizeof segment);
        h.msg_control = c.bytes;
        h.msg_controllen = slot.control_len + CMSG_SPACE(sizeof(std::uint16_t));
      }
      msg_first_[msgs] = end;
      msg_count_[msgs] = count;
      ++msgs;
      end += count;
    }
    std::size_t done = 0;
    while (done < msgs) {
      int n = sendmmsg(l->fd.get(), &tx_msgs_[done], static_cast<unsigned>(msgs - done), MSG_DONTWAIT);
      if (n <= 0) {
        // The first message of the rest failed (EAGAIN, EPERM, ...): drop it, try the others.
        // A refused GSO message (EIO: e.g. IPsec on the route) turns GSO off for good.
        if (msg_count_[done] > 1 && (errno == EIO || errno == EINVAL)) gso_ = false;
        for (std::size_t k = 0; k < msg_count_[done]; ++k) {
          ReplySlot& slot = tx_slots_[msg_first_[done] + k];
          dropFor(*slot.frontend, slot.frontend->clients.find(reinterpret_cast<const sockaddr*>(&slot.dst)),
                  Drop::ReplySendError);
        }
        ++done;
        continue;
      }
      for (std::size_t m = done; m < done + static_cast<std::size_t>(n); ++m) {
        for (std::size_t k = 0; k < msg_count_[m]; ++k) {
          const std::size_t i = msg_first_[m] + k;
          const ReplySlot& slot = tx_slots_[i];
          ++slot.frontend->stats.replied;
          slot.frontend->stats.replied_bytes += slot.len;
          if (ClientRecord* c = slot.frontend->clients.find(reinterpret_cast<const sockaddr*>(&slot.dst))) ++c->answers;
          const std::span<const std::uint8_t> sent(tx_data_.get() + i * slot_size_, slot.len);
          if (slot.frontend->protocol().replyTruncated(sent)) ++slot.frontend->stats.replied_truncated;
        }
      }
      done += static_cast<std::size_t>(n);
    }
    start = end;
  }
  tx_count_ = 0;
}

// ---- replies on shared upstream sockets ----

void Proxy::onPoolReadable(evutil_socket_t, short, void* arg) noexcept {
  auto* ps = static_cast<PoolSocket*>(arg);
  static_cast<Proxy*>(ps->owner)->receivePoolReplies(*ps);
}

void Proxy::receivePoolReplies(PoolSocket& ps) noexcept {
  if (tx_count_ == kBatch) flushReplies();
  const std::uint32_t limit = ps.frontend->config().max_datagram;
  // Straight into the free reply slots, as for sessions: a full queue costs one system call.
  const std::size_t want = kBatch - tx_count_;
  const std::size_t base = tx_count_;
  for (std::size_t k = 0; k < want; ++k) {
    up_iov_[k].iov_base = tx_data_.get() + (base + k) * slot_size_;
    up_iov_[k].iov_len = limit;
  }
  int n = recvmmsg(ps.fd, up_msgs_.data(), static_cast<unsigned>(want), MSG_DONTWAIT | MSG_TRUNC, nullptr);
  if (n < 0) {
    // The socket stays: other clients' requests are in flight on it.
    if (errno == ECONNREFUSED) ps.server->backend->markRefused(*ps.server, readClock());
    return;
  }
  const TimePoint now = readClock();
  for (int k = 0; k < n; ++k) {
    stageShared(ps, base + static_cast<std::size_t>(k), up_msgs_[static_cast<std::size_t>(k)].msg_len, now);
  }
}

void Proxy::stageShared(PoolSocket& ps, std::size_t buffer, std::uint32_t len, TimePoint now) noexcept {
  Frontend& fe = *ps.frontend;
  const Protocol& proto = fe.protocol();
  std::uint8_t* buf = tx_data_.get() + buffer * slot_size_;
  if (len > fe.config().max_datagram) {
    fe.stats.drop(Drop::ReplyTooLarge);
    return;
  }
  Token token = 0;
  const Check c = proto.checkReply(std::span<const std::uint8_t>(buf, len), token);
  if (c != Check::Ok) {
    fe.stats.drop(c == Check::WrongKind ? Drop::ReplyWrongKind : Drop::ReplyMalformed);
    return;
  }
  // The reply's token: a request's key or its own second key (a long NTP request's receive
  // timestamp), or (interleaved NTP, 48 bytes) the second key it may stand for.
  std::uint32_t idx = inflight_.find(ps.id, token);
  bool alt = idx != InflightTable::kNone && inflight_.at(idx).key != token;
  if (idx == InflightTable::kNone && proto.shared_token->alt_key != nullptr) {
    const Token key = proto.shared_token->alt_key(token);
    idx = inflight_.find(ps.id, key);
    if (idx != InflightTable::kNone &&
        ((inflight_.at(idx).token_flags & kSharedAlt) == 0 || inflight_.at(idx).key != key)) {
      idx = InflightTable::kNone;
    }
    alt = true;
  }
  if (idx == InflightTable::kNone) {
    // Unknown, expired, or forged: nobody is waiting for it.
    fe.stats.drop(Drop::ReplyUnmatched);
    return;
  }
  InflightTable::Entry& e = inflight_.at(idx);
  if (e.state != InflightTable::State::Pending) {
    dropFor(fe, e.client, Drop::ReplyUnexpected);  // a second reply to an answered request
    return;
  }
  if (proto.replies_bounded_by_request && len > e.request_len) {
    dropFor(fe, e.client, Drop::ReplyTooLarge);
    return;
  }
  proto.shared_token->restore(std::span<std::uint8_t>(buf, len), e.token(), alt);
  Server& server = *ps.server;
  ++server.stats.replied;
  server.backend->passiveReply(server, now);
  stageSlot(*e.listener, fe, e.client, e.local, buffer, len);
  inflight_.answer(idx);
  --server.in_flight;
  shared_.released(ps);
}

}  // namespace udpx

// The request side of shared upstream sockets: a request that passed its checks gets a pool
// socket of its server and a free token there, an entry in the in-flight table, and leaves with
// the other requests for that socket in one sendmmsg per receive batch.
#include <sys/socket.h>

#include <cerrno>

#include "backends/backend.h"
#include "dataplane/frontend.h"
#include "dataplane/proxy.h"
#include "protocols/protocol.h"

namespace udpx {
namespace {

// Random tokens drawn per pool socket before trying the next one (DNS: 16 bits, so a busy
// socket may need a few).
constexpr int kDraws = 4;

}  // namespace

void Proxy::handleShared(Listener& l, std::size_t i, Token token, ClientRecord* seen, TimePoint now) noexcept {
  Frontend& fe = l.frontend;
  const msghdr& h = rx_msgs_[i].msg_hdr;
  const SockAddr client(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen);
  const std::uint32_t len = rx_msgs_[i].msg_len;
  const std::span<std::uint8_t> pkt(static_cast<std::uint8_t*>(rx_iov_[i].iov_base), len);
  Server* server = pickServer(fe, client, now);
  if (server == nullptr) return;
  int e = 0;
  PoolSocket* ps = shared_.pick(fe, *server, now, rx_batch_, e);
  if (ps == nullptr) {
    socketFailed(fe, client, *server, e, now);
    return;
  }
  const SharedTokenHooks& hooks = *fe.protocol().shared_token;
  SharedToken st;
  // Free on a socket: neither its key nor its own second key is a key there, so every reply
  // token names one request.
  const auto isFree = [this, &st](std::uint32_t sock) noexcept {
    return inflight_.find(sock, st.key) == InflightTable::kNone &&
           ((st.flags & kSharedOwnAlt) == 0 || inflight_.find(sock, st.original_alt) == InflightTable::kNone);
  };
  bool found = false;
  for (std::size_t attempt = 0; ps != nullptr && !found;) {
    for (int draw = 0; draw < kDraws && !found; ++draw) {
      hooks.choose(pkt, token, rng_(), st);
      if (isFree(ps->id)) {
        found = true;
      } else {
        ++fe.stats.token_collisions;
        // The client's own token (long NTP requests) is the same whatever is drawn.
        if ((st.flags & kSharedRewritten) == 0) break;
      }
    }
    if (!found) ps = shared_.sibling(*ps, ++attempt);
  }
  if (!found) {
    dropFor(fe, seen, Drop::TokenBusy);
    return;
  }
  const std::uint32_t idx = inflight_.insert(fe.lane(), ps->id, st.key, now);
  InflightTable::Entry& entry = inflight_.at(idx);
  entry.original = st.original;
  entry.original_alt = st.original_alt;
  entry.token_flags = st.flags;
  entry.request_len = static_cast<std::uint16_t>(len);  // a UDP payload is at most 65507 bytes
  entry.client = client;
  entry.local = localAddrOf(h);
  entry.listener = &l;
  // Its interleaved reply echoes its own receive timestamp. Refused only with the table's second
  // keys at their bound (inflight_table.h): then that reply goes unmatched.
  if ((st.flags & kSharedOwnAlt) != 0 && !inflight_.indexSecond(idx, st.original_alt)) {
    entry.token_flags = static_cast<std::uint8_t>(st.flags & ~kSharedOwnAlt);
  }
  hooks.apply(pkt, st);
  ++ps->in_flight;
  ++server->in_flight;
  shared_batch_[shared_count_++] = SharedSend{idx, st.key, ps->id, false};
  shared_iov_[shared_count_ - 1] = iovec{pkt.data(), len};
  armExpiry(now + fe.config().session_timeout, now);
}

void Proxy::sendShared(TimePoint now) noexcept {
  for (std::size_t first = 0; first < shared_count_; ++first) {
    if (shared_batch_[first].sent) continue;
    // Every request of this batch for the same pool socket, in order: one sendmmsg.
    const std::uint32_t sock = shared_batch_[first].socket;
    std::size_t msgs = 0;
    for (std::size_t k = first; k < shared_count_; ++k) {
      SharedSend& r = shared_batch_[k];
      if (r.sent || r.socket != sock) continue;
      r.sent = true;
      // Evicted before it left (the table was full): its slot may hold a newer request.
      const InflightTable::Entry& e = inflight_.at(r.entry);
      if (e.state != InflightTable::State::Pending || e.key != r.key || e.socket != sock) continue;
      shared_msgs_[msgs].msg_hdr.msg_iov = &shared_iov_[k];
      shared_of_msg_[msgs] = k;
      ++msgs;
    }
    PoolSocket& ps = shared_.at(sock);
    std::size_t done = 0;
    while (done < msgs) {
      const int n = ps.fd < 0 ? -1
                              : sendmmsg(ps.fd, &shared_msgs_[done], static_cast<unsigned>(msgs - done), MSG_DONTWAIT);
      if (n <= 0) {
        // The first of the rest failed: it is dropped, the others are tried again.
        const SharedSend& r = shared_batch_[shared_of_msg_[done]];
        InflightTable::Entry& e = inflight_.at(r.entry);
        Frontend& fe = *ps.frontend;
        dropFor(fe, e.client, Drop::SendError);
        if (errno == ECONNREFUSED) ps.server->backend->markRefused(*ps.server, now);
        inflight_.erase(r.entry);
        --ps.server->in_flight;
        shared_.released(ps);
        ++done;
        continue;
      }
      for (std::size_t m = done; m < done + static_cast<std::size_t>(n); ++m) {
        ++ps.frontend->stats.forwarded;
        ps.frontend->stats.forwarded_bytes += shared_iov_[shared_of_msg_[m]].iov_len;
        ++ps.server->stats.forwarded;
      }
      done += static_cast<std::size_t>(n);
    }
  }
  shared_count_ = 0;
}

void Proxy::onInflightEnd(void* ctx, InflightTable::Entry& e, InflightEnd why) noexcept {
  auto& self = *static_cast<Proxy*>(ctx);
  PoolSocket& ps = self.shared_.at(e.socket);
  Frontend& fe = *ps.frontend;
  Server& server = *ps.server;
  --server.in_flight;
  switch (why) {
    case InflightEnd::Expired: {
      // No reply within session_timeout: passive health holds it against the server. Counted
      // with expired sessions: a shared request is a one-exchange session without a socket.
      ++fe.stats.sessions_expired;
      const TimePoint now = self.readClock();
      server.backend->passiveUnanswered(server, e.client, 1, now, true);
      if (ClientRecord* c = fe.clients.find(e.client)) ++c->unanswered;
      break;
    }
    case InflightEnd::Evicted: {
      ++fe.stats.sessions_evicted;
      fe.last_eviction = self.readClock();
      if (self.evict_log_.allow(fe.last_eviction)) {
        LOG_WARN("frontend \"%s\": too many requests in flight (max_sessions %u here, %u for the process): "
                 "forgetting the oldest — raise max_sessions if clients lose replies%s",
                 fe.name().c_str(), fe.config().max_sessions, self.inflight_.capacity(), self.evict_log_.suffix());
      }
      break;
    }
    case InflightEnd::Shutdown: break;
  }
  self.shared_.released(ps);
}

void Proxy::stopSharing(Frontend& fe) noexcept {
  if (shared_count_ > 0) sendShared(readClock());
  inflight_.clearLane(fe.lane(), InflightEnd::Shutdown);
  shared_.closeFrontend(fe);
}

void Proxy::listenerClosing(const Listener& l) noexcept {
  inflight_.removeIf([&l](const InflightTable::Entry& e) { return e.listener == &l; }, InflightEnd::Shutdown);
}

}  // namespace udpx

// The data path: batched receive from listeners, sessions, upstream sockets, batched replies.
#include "dataplane/proxy.h"

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "backends/backend.h"
#include "dataplane/frontend.h"
#include "protocols/protocol.h"

namespace udpx {
namespace {

Drop requestDrop(Check c) noexcept {
  switch (c) {
    case Check::Malformed: return Drop::Malformed;
    case Check::WrongKind: return Drop::WrongKind;
    case Check::Control: return Drop::Control;
    case Check::Ok: break;
  }
  return Drop::Malformed;
}

Drop replyDrop(Check c) noexcept {
  return c == Check::WrongKind ? Drop::ReplyWrongKind : Drop::ReplyMalformed;
}

}  // namespace

// Reads the destination address of a received datagram from its IP_PKTINFO/IPV6_PKTINFO.
LocalAddr localAddrOf(const msghdr& h) noexcept {
  LocalAddr a;
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      a.family = AF_INET;
      a.v4 = pi.ipi_addr;
      a.ifindex = static_cast<unsigned>(pi.ipi_ifindex);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo pi;
      std::memcpy(&pi, CMSG_DATA(c), sizeof pi);
      a.family = AF_INET6;
      a.v6 = pi.ipi6_addr;
      a.ifindex = pi.ipi6_ifindex;
    }
  }
  return a;
}


Proxy::Proxy(event_base* base, std::uint32_t global_max_sessions, std::uint32_t max_datagram, ProxySeams seams)
    : base_(base),
      upstream_(seams.upstream != nullptr ? *seams.upstream : connected_),
      clock_(seams.clock),
      table_(global_max_sessions, [this](Session& s, SessionEnd why) { endSession(s, why); }),
      slot_size_(max_datagram),
      rx_data_(std::make_unique_for_overwrite<std::uint8_t[]>(kBatch * static_cast<std::size_t>(max_datagram))),
      tx_data_(std::make_unique_for_overwrite<std::uint8_t[]>(kBatch * static_cast<std::size_t>(max_datagram))),
      tx_slots_(kBatch),
      inflight_(global_max_sessions, rng_(), &Proxy::onInflightEnd, this),
      shared_(base, upstream_, &Proxy::onPoolReadable, this) {
  wireBuffers();
  for (std::size_t i = 0; i < kBatch; ++i) {
    msghdr& h = rx_msgs_[i].msg_hdr;
    h.msg_iov = &rx_iov_[i];
    h.msg_iovlen = 1;
    h.msg_name = &rx_names_[i];
    h.msg_control = rx_control_[i].bytes;
    up_msgs_[i].msg_hdr.msg_iov = &up_iov_[i];
    req_msgs_[i].msg_hdr.msg_iov = &req_iov_[i];
    req_msgs_[i].msg_hdr.msg_iovlen = 1;
    up_msgs_[i].msg_hdr.msg_iovlen = 1;
    shared_msgs_[i].msg_hdr.msg_iov = &shared_iov_[i];
    shared_msgs_[i].msg_hdr.msg_iovlen = 1;
  }
  flush_ev_.reset(event_new(base_, -1, 0, &Proxy::onFlush, this));
  expiry_ev_.reset(evtimer_new(base_, &Proxy::onExpiryTimer, this));
  if (!flush_ev_ || !expiry_ev_) throw std::runtime_error("cannot create timer events");
  // Replies gathered from many upstream sockets in one loop iteration leave together: the
  // flush is activated by the first staged reply and so queued behind every socket event the
  // same epoll_wait reported.
  // NOTE: the same priority as the sockets (1), not a lower one: libevent runs only the best
  // non-empty priority per iteration, so a lower-priority flush costs one more epoll_wait.
  event_priority_set(flush_ev_.get(), 1);
}

Proxy::~Proxy() { shutdown(); }

void Proxy::shutdown() noexcept {
  if (tx_count_ > 0) flushReplies();
  table_.clear(SessionEnd::Shutdown);
  inflight_.removeIf([](const InflightTable::Entry&) { return true; }, InflightEnd::Shutdown);
  shared_.closeAll();
}

void Proxy::wireBuffers() noexcept {
  for (std::size_t i = 0; i < kBatch; ++i) {
    rx_iov_[i].iov_base = rx_data_.get() + i * slot_size_;
    rx_iov_[i].iov_len = slot_size_;
    tx_iov_[i].iov_base = tx_data_.get() + i * slot_size_;
  }
}

void Proxy::attach(Frontend& fe) {
  fe.attachTo(*this, table_.addLane(fe.config().session_timeout, fe.config().max_sessions));
  table_.setPerClientCap(fe.lane(), fe.config().max_sessions_per_client);
  inflight_.setLane(fe.lane(), fe.config().session_timeout, fe.config().max_sessions);
  if (lane_shared_.size() <= fe.lane()) lane_shared_.resize(fe.lane() + 1, nullptr);
  lane_shared_[fe.lane()] = fe.sharesUpstream() ? &fe.protocol() : nullptr;
  for (auto& l : fe.listeners()) watch(*l);
}

void Proxy::watch(Listener& l) {
  l.ev.reset(event_new(base_, l.fd.get(), EV_READ | EV_PERSIST, &Proxy::onListenerReadable, &l));
  if (!l.ev || event_add(l.ev.get(), nullptr) != 0) throw std::runtime_error("cannot watch listener socket");
}

// ---- reloads ----

void Proxy::flushPending() noexcept {
  if (tx_count_ > 0) flushReplies();
}

void Proxy::detach(Frontend& fe) noexcept {
  flushPending();
  stopSharing(fe);
  table_.releaseLane(fe.lane(), SessionEnd::Shutdown);
  for (auto& l : fe.listeners()) l->ev.reset();
  fe.proxy_ = nullptr;
}

void Proxy::reconfigured(Frontend& fe) {
  table_.setLane(fe.lane(), fe.config().session_timeout, fe.config().max_sessions);
  table_.setPerClientCap(fe.lane(), fe.config().max_sessions_per_client);
  inflight_.setLane(fe.lane(), fe.config().session_timeout, fe.config().max_sessions);
  // Requests in flight were made with the old protocol's tokens: they end when it changes.
  const Protocol* sharing = fe.sharesUpstream() ? &fe.protocol() : nullptr;
  if (lane_shared_[fe.lane()] != nullptr && lane_shared_[fe.lane()] != sharing) stopSharing(fe);
  lane_shared_[fe.lane()] = sharing;
  // A smaller upstream_pool_sockets: the pools retire their extra sockets now.
  if (sharing != nullptr) shared_.resized(fe);
  for (auto& l : fe.listeners()) {
    if (!l->ev) watch(*l);
  }
  // A shorter timeout may make sessions due before the armed deadline (or already overdue).
  expireIdle();
}

void Proxy::growBuffers(std::uint32_t max_datagram) {
  if (max_datagram <= slot_size_) return;
  flushPending();
  auto rx = std::make_unique_for_overwrite<std::uint8_t[]>(kBatch * static_cast<std::size_t>(max_datagram));
  auto tx = std::make_unique_for_overwrite<std::uint8_t[]>(kBatch * static_cast<std::size_t>(max_datagram));
  rx_data_ = std::move(rx);
  tx_data_ = std::move(tx);
  slot_size_ = max_datagram;
  wireBuffers();
}

// ---- requests ----

void Proxy::onListenerReadable(evutil_socket_t, short, void* arg) noexcept {
  auto* l = static_cast<Listener*>(arg);
  l->frontend.proxy()->receiveRequests(*l);
}

void Proxy::receiveRequests(Listener& l) noexcept {
  const std::uint32_t limit = l.frontend.config().max_datagram;
  // The kernel rewrites only the lengths and flags; the buffers were wired up once.
  for (std::size_t i = 0; i < kBatch; ++i) {
    msghdr& h = rx_msgs_[i].msg_hdr;
    rx_iov_[i].iov_len = limit;
    h.msg_namelen = sizeof rx_names_[i];
    h.msg_controllen = sizeof rx_control_[i].bytes;
    h.msg_flags = 0;
  }
  // One call per readable event: level-triggered, so a fuller queue simply fires again.
  int n = recvmmsg(l.fd.get(), rx_msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
  if (n <= 0) return;
  const TimePoint now = readClock();
  ++rx_batch_;
  for (int i = 0; i < n; ++i) handleRequest(l, static_cast<std::size_t>(i), now);
  sendRun(now);
  sendShared(now);
}

void Proxy::handleRequest(Listener& l, std::size_t i, TimePoint now) noexcept {
  Frontend& fe = l.frontend;
  msghdr& h = rx_msgs_[i].msg_hdr;
  const std::uint32_t len = rx_msgs_[i].msg_len;
  ++fe.stats.received;
  fe.stats.received_bytes += len;
  const SockAddr client(static_cast<const sockaddr*>(h.msg_name), h.msg_namelen);
  // Denied clients too: "is machine B getting through at all?" is asked of them most.
  ClientRecord* seen = fe.clients.touch(client, now);
  if (seen != nullptr) ++seen->requests;
  if (h.msg_flags & MSG_TRUNC) {
    dropFor(fe, seen, Drop::TooLarge);
    return;
  }
  if (!fe.allows(client)) {
    dropFor(fe, seen, Drop::Acl);
    return;
  }
  const std::span<const std::uint8_t> pkt(static_cast<const std::uint8_t*>(rx_iov_[i].iov_base), len);
  Token token = 0;
  const Check c = fe.protocol().checkRequest(pkt, token);
  if (c != Check::Ok) {
    dropFor(fe, seen, requestDrop(c));
    return;
  }
  if (fe.limiter.enabled() && refused(l, i, pkt, seen, now)) return;  // proxy_limits.cpp
  if (fe.sharesUpstream()) {
    handleShared(l, i, token, seen, now);
    return;
  }
  Session* s = table_.find(fe.lane(), client);
  // Another session's run leaves first (and before openSession, which may evict a session).
  if (s != run_) sendRun(now);
  if (s == nullptr) {
    s = openSession(fe, l, client, now);
    if (s == nullptr) return;  // counted in openSession
  } else {
    table_.touch(*s, now);
  }
  s->local = localAddrOf(h);
  s->listener = &l;
  const std::uint32_t budget = fe.config().responses;
  if (budget == kUnlimitedResponses) {
    s->replies_left = kUnlimitedResponses;
  } else if (budget > 0) {
    // Every request allows `budget` more replies; saturate below the "unlimited" marker.
    const std::uint64_t allowed = std::uint64_t{s->replies_left} + budget;
    s->replies_left = static_cast<std::uint32_t>(std::min<std::uint64_t>(allowed, kUnlimitedResponses - 1));
  }
  if (fe.protocol().usesTokens()) s->addPending(token);
  // A UDP payload is at most 65507 bytes, so it always fits.
  s->max_request_len = std::max(s->max_request_len, static_cast<std::uint16_t>(len));

  // Consecutive requests of one session (a client with several in flight) are sent together.
  req_iov_[run_len_].iov_base = rx_iov_[i].iov_base;
  req_iov_[run_len_].iov_len = len;
  run_ = s;
  ++run_len_;
}

void Proxy::sendRun(TimePoint now) noexcept {
  if (run_len_ == 0) return;
  Session& s = *run_;
  Frontend& fe = *s.frontend;
  // Only a frontend that expects replies counts requests as awaiting one (passive health).
  const bool budgeted = fe.config().responses != 0;
  std::size_t done = 0;
  while (done < run_len_) {
    int n = 0;
    if (run_len_ - done == 1) {
      n = send(s.fd, req_iov_[done].iov_base, req_iov_[done].iov_len, 0) < 0 ? -1 : 1;
    } else {
      n = sendmmsg(s.fd, &req_msgs_[done], static_cast<unsigned>(run_len_ - done), 0);
    }
    if (n <= 0) {
      ClientRecord* who = fe.clients.find(s.client);  // before the session may go
      dropFor(fe, who, Drop::SendError);
      ++done;
      if (errno == ECONNREFUSED) {
        // The previous datagram drew an ICMP port unreachable: the server is not listening.
        s.server->backend->markRefused(*s.server, now);
        table_.remove(s, SessionEnd::Closed);
        for (; done < run_len_; ++done) dropFor(fe, who, Drop::SendError);
      }
      continue;
    }
    for (std::size_t k = done; k < done + static_cast<std::size_t>(n); ++k) {
      ++fe.stats.forwarded;
      fe.stats.forwarded_bytes += req_iov_[k].iov_len;
      ++s.server->stats.forwarded;
      if (budgeted && s.awaiting < UINT16_MAX) ++s.awaiting;
    }
    done += static_cast<std::size_t>(n);
  }
  run_ = nullptr;
  run_len_ = 0;
}

Server* Proxy::pickServer(Frontend& fe, const SockAddr& client, TimePoint now) noexcept {
  Backend* be = fe.backend();
  Server* server = be->pick(&client);
  if (server != nullptr) return server;
  dropFor(fe, client, Drop::NoBackend);
  if (no_backend_log_.allow(now)) {
    if (be->servers().empty()) {
      LOG_ERROR("frontend \"%s\": dropping requests: backend \"%s\" has no server address — check that its "
                "servers resolve (udpx status)%s",
                fe.name().c_str(), be->name().c_str(), no_backend_log_.suffix());
    } else {
      LOG_ERROR("frontend \"%s\": dropping requests: every server of backend \"%s\" is down and on_all_down = "
                "\"drop\" — see `udpx status` for why%s",
                fe.name().c_str(), be->name().c_str(), no_backend_log_.suffix());
    }
  }
  return nullptr;
}

void Proxy::socketFailed(Frontend& fe, const SockAddr& client, const Server& server, int e, TimePoint now) noexcept {
  dropFor(fe, client, Drop::SocketError);
  if (socket_error_log_.allow(now)) {
    const char* hint = (e == EMFILE || e == ENFILE)
                           ? "too many open files: raise the limit (LimitNOFILE=, ulimit -n) or lower max_sessions"
                           : "check the route to the server (ip route get)";
    LOG_ERROR("frontend \"%s\": cannot open a socket to %s: %s — %s%s", fe.name().c_str(), server.label().c_str(),
              strerror(e), hint, socket_error_log_.suffix());
  }
}

Session* Proxy::openSession(Frontend& fe, Listener& l, const SockAddr& client, TimePoint now) noexcept {
  Server* server = pickServer(fe, client, now);
  if (server == nullptr) return nullptr;
  // A reply on this socket can only come from where we sent (ConnectedUdpSockets).
  int e = 0;
  UniqueFd fd = upstream_.open(server->addr(), e);
  if (!fd.valid()) {
    socketFailed(fe, client, *server, e, now);
    return nullptr;
  }
  Session* s = table_.create(fe.lane(), client, now);
  if (s == nullptr) {
    dropFor(fe, client, Drop::SocketError);
    if (session_memory_log_.allow(now)) {
      LOG_ERROR("frontend \"%s\": out of memory for sessions — lower max_sessions", fe.name().c_str());
    }
    return nullptr;
  }
  s->fd = fd.release();
  s->frontend = &fe;
  s->listener = &l;
  s->server = server;
  event_assign(&s->ev, base_, s->fd, EV_READ | EV_PERSIST, &Proxy::onUpstreamReadable, s);
  event_add(&s->ev, nullptr);
  ++fe.stats.sessions_created;
  ++server->stats.sessions;
  ++server->active_sessions;
  armExpiry(now + fe.config().session_timeout, now);
  return s;
}

// ---- replies ----

void Proxy::onUpstreamReadable(evutil_socket_t, short, void* arg) noexcept {
  auto* s = static_cast<Session*>(arg);
  s->frontend->proxy()->receiveReply(*s);
}

void Proxy::receiveReply(Session& s) noexcept {
  Frontend& fe = *s.frontend;
  if (tx_count_ == kBatch) flushReplies();
  const std::uint32_t limit = fe.config().max_datagram;
  // One receive call per readable socket, straight into the free reply slots: several replies
  // queued on one session (a client with requests in flight) cost one system call. A session
  // with a reply budget reads no more than the budget, as one recv at a time would.
  std::size_t want = kBatch - tx_count_;
  if (s.replies_left != kUnlimitedResponses) want = std::clamp<std::size_t>(s.replies_left, 1, want);
  const std::size_t base = tx_count_;
  for (std::size_t k = 0; k < want; ++k) {
    up_iov_[k].iov_base = tx_data_.get() + (base + k) * slot_size_;
    up_iov_[k].iov_len = limit;
  }
  // MSG_TRUNC makes each length the real one, so an oversized reply is recognised.
  int n = recvmmsg(s.fd, up_msgs_.data(), static_cast<unsigned>(want), MSG_DONTWAIT | MSG_TRUNC, nullptr);
  if (n < 0) {
    if (errno == ECONNREFUSED) {
      s.server->backend->markRefused(*s.server, readClock());
      table_.remove(s, SessionEnd::Closed);
    }
    return;
  }
  const TimePoint now = readClock();
  bool staged = false;
  for (int k = 0; k < n; ++k) {
    switch (stageReply(s, base + static_cast<std::size_t>(k), up_msgs_[static_cast<std::size_t>(k)].msg_len, now)) {
      case Staged::Dropped: break;
      case Staged::Queued: staged = true; break;
      case Staged::SessionEnded:
        // The budget was used up by the last datagram asked for; nothing can follow it.
        for (int rest = k + 1; rest < n; ++rest) dropFor(fe, s.client, Drop::ReplyUnexpected);
        return;
    }
  }
  if (staged) table_.touch(s, now);
}

Proxy::Staged Proxy::stageReply(Session& s, std::size_t buffer, std::uint32_t len, TimePoint now) noexcept {
  Frontend& fe = *s.frontend;
  const std::uint32_t limit = fe.config().max_datagram;
  std::uint8_t* buf = tx_data_.get() + buffer * slot_size_;
  if (len > limit) {
    dropFor(fe, s.client, Drop::ReplyTooLarge);
    return Staged::Dropped;
  }
  if (s.replies_left == 0) {
    dropFor(fe, s.client, Drop::ReplyUnexpected);
    return Staged::Dropped;
  }
  Token token = 0;
  const Check c = fe.protocol().checkReply(std::span<const std::uint8_t>(buf, len), token);
  if (c != Check::Ok) {
    dropFor(fe, s.client, replyDrop(c));
    return Staged::Dropped;
  }
  if (fe.protocol().usesTokens() && !s.takePending(token)) {
    dropFor(fe, s.client, Drop::ReplyUnmatched);
    return Staged::Dropped;
  }
  if (fe.protocol().replies_bounded_by_request && len > s.max_request_len) {
    dropFor(fe, s.client, Drop::ReplyTooLarge);
    return Staged::Dropped;
  }
  ++s.server->stats.replied;
  // Token protocols answer request by request; for the others any reply answers them all.
  if (fe.protocol().usesTokens()) {
    if (s.awaiting > 0) --s.awaiting;
  } else {
    s.awaiting = 0;
  }
  s.server->backend->passiveReply(*s.server, now);

  stageSlot(*s.listener, fe, s.client, s.local, buffer, len);

  if (s.replies_left != kUnlimitedResponses) {
    --s.replies_left;
    if (s.replies_left == 0) {
      // Budget used up (NTP/DNS: one reply per request): free the socket at once.
      table_.remove(s, SessionEnd::Closed);
      return Staged::SessionEnded;
    }
  }
  return Staged::Queued;
}

void Proxy::onFlush(evutil_socket_t, short, void* arg) noexcept { static_cast<Proxy*>(arg)->flushReplies(); }

// ---- session ends and expiry ----

void Proxy::dropFor(Frontend& fe, ClientRecord* client, Drop d) noexcept {
  fe.stats.drop(d);
  if (client != nullptr) client->drop(d);
}

void Proxy::dropFor(Frontend& fe, const SockAddr& client, Drop d) noexcept { dropFor(fe, fe.clients.find(client), d); }

void Proxy::endSession(Session& s, SessionEnd why) noexcept {
  if (s.fd >= 0) {
    event_del(&s.ev);
    ::close(s.fd);
    s.fd = -1;
  }
  if (s.server != nullptr) {
    --s.server->active_sessions;
    // Requests still unanswered when the session idles out were lost upstream (or the server
    // is not answering this host): passive health counts them against the server.
    // Only a frontend with a reply budget promises an answer per request; "unlimited" (raw)
    // may be one-way traffic, so there its silence is counted but not held against the server.
    if (why == SessionEnd::Expired && s.awaiting > 0 && s.frontend != nullptr) {
      s.server->backend->passiveUnanswered(*s.server, s.client, s.awaiting, readClock(),
                                           s.frontend->config().responses != kUnlimitedResponses);
    }
  }
  if (s.frontend == nullptr) return;
  if (why != SessionEnd::Shutdown && s.awaiting > 0) {
    if (ClientRecord* c = s.frontend->clients.find(s.client)) c->unanswered += s.awaiting;
  }
  FrontendStats& st = s.frontend->stats;
  switch (why) {
    case SessionEnd::Expired: ++st.sessions_expired; break;
    case SessionEnd::Evicted: {
      ++st.sessions_evicted;
      s.frontend->last_eviction = readClock();
      if (evict_log_.allow(s.frontend->last_eviction)) {
        LOG_WARN("frontend \"%s\": session table full (max_sessions %u here, %u for the process): evicting the "
                 "least recently used sessions — raise max_sessions if clients lose replies%s",
                 s.frontend->name().c_str(), s.frontend->config().max_sessions, table_.globalCap(),
                 evict_log_.suffix());
      }
      break;
    }
    case SessionEnd::Closed: ++st.sessions_closed; break;
    case SessionEnd::EvictedPerClient: ++st.sessions_evicted_per_client; break;
    case SessionEnd::Shutdown: break;
  }
}

void Proxy::armExpiry(TimePoint deadline, TimePoint now) noexcept {
  if (expiry_at_ && *expiry_at_ <= deadline) return;  // already due earlier; it re-arms itself
  expiry_at_ = deadline;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(deadline - now).count();
  if (us < 0) us = 0;
  timeval tv{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
  evtimer_add(expiry_ev_.get(), &tv);
}

void Proxy::onExpiryTimer(evutil_socket_t, short, void* arg) noexcept { static_cast<Proxy*>(arg)->expireIdle(); }

void Proxy::expireIdle() noexcept {
  const TimePoint now = readClock();
  // A call before the timer fired (tests) replaces the armed deadline by the next one.
  evtimer_del(expiry_ev_.get());
  expiry_at_.reset();
  std::optional<TimePoint> next = table_.expire(now);
  if (const auto in_flight = inflight_.expire(now); in_flight && (!next || *in_flight < *next)) next = in_flight;
  // Idle and retired pool sockets are closed on this timer too; while any is open it runs at
  // least this often.
  if (shared_.sweep(now) && (!next || now + SharedUpstream::kSweepEvery < *next)) next = now + SharedUpstream::kSweepEvery;
  if (next) armExpiry(*next, now);
}

}  // namespace udpx

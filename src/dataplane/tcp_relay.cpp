// TcpRelay: accepting, connecting to a server with failover, and splicing bytes both ways.
#include "dataplane/tcp_relay.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "backends/backend.h"
#include "dataplane/frontend.h"

namespace udpx {
namespace {

// What a pipe holds (Linux's default: 16 pages). Requests ask for at most this much at a time.
constexpr std::size_t kPipeBytes = 65536;
// A direction starts by copying through a small buffer: DNS-sized exchanges cost a recv and a
// send, with no pipe (2 descriptors fewer per direction). A read that fills it is bulk
// transfer: once the buffer has drained, the direction splices through a pipe instead.
constexpr std::size_t kSmallBytes = 4096;
// The buffer of a direction that cannot splice (copied through user space instead).
constexpr std::size_t kCopyBytes = 16384;

bool sameHost(const SockAddr& a, const SockAddr& b) noexcept {
  SockAddr x = a, y = b;
  x.setPort(0);
  y.setPort(0);
  return x == y;
}

bool wouldBlock(int err) noexcept { return err == EAGAIN || err == EWOULDBLOCK; }

}  // namespace

struct TcpRelay::Listener {
  TcpRelay* relay = nullptr;
  SockAddr addr;
  UniqueFd fd;
  EventPtr ev;
  std::unique_ptr<AcceptBackoff> backoff;
};

// One way through a connection: bytes read from `from` wait in the pipe (or the buffer) until
// `to` takes them.
struct TcpRelay::Direction {
  int from = -1, to = -1;          // the connection's sockets (not owned)
  UniqueFd pipe_r, pipe_w;         // splice mode
  std::unique_ptr<std::uint8_t[]> buf;  // copy mode: small exchanges, or splice refused
  std::size_t buf_size = 0;        // kSmallBytes, or kCopyBytes once splice is refused
  std::size_t head = 0, tail = 0;  // copy mode: the bytes waiting are buf[head, tail)
  bool to_splice = false;          // a read filled the small buffer: splice once it drained
  std::size_t pending = 0;         // bytes read from `from` not yet written to `to`
  bool eof = false;                // `from` ended its side
  bool shut = false;               // and `to` was told so (shutdown SHUT_WR)
  bool full = false;               // do not read: `to` blocks, or the pipe took nothing more
  std::uint64_t* bytes = nullptr;  // the counter of what reaches `to`

  bool copying() const noexcept { return buf != nullptr; }
  std::size_t capacity() const noexcept { return copying() ? buf_size : kPipeBytes; }
  void copyThrough(std::size_t size) {
    pipe_r.reset();
    pipe_w.reset();
    buf = std::make_unique<std::uint8_t[]>(size);
    buf_size = size;
    head = tail = 0;
  }
};

struct TcpRelay::Conn {
  TcpRelay* relay = nullptr;
  std::size_t index = 0;
  UniqueFd client, upstream;
  SockAddr peer;
  Server* server = nullptr;  // held (active_sessions) while set
  std::array<SockAddr, kMaxAttempts> tried{};
  std::uint32_t attempts = 0;
  bool refused = false;      // the last attempt was refused (RST), not timed out or unreachable
  bool connecting = true;
  Direction up, down;        // client -> server, server -> client
  EventPtr client_rd, client_wr, upstream_rd, upstream_wr, timer;
  bool client_rd_on = false, client_wr_on = false, upstream_rd_on = false, upstream_wr_on = false;
  TimePoint last_active{};
};

TcpRelay::TcpRelay(event_base* base, Frontend& fe) : base_(base), fe_(fe) {}

TcpRelay::~TcpRelay() {
  closeAll();
  listeners_.clear();
}

void TcpRelay::addListener(const SockAddr& addr, UniqueFd fd) {
  auto l = std::make_unique<Listener>();
  l->relay = this;
  l->addr = addr;
  l->fd = std::move(fd);
  Listener* raw = l.get();
  l->backoff = std::make_unique<AcceptBackoff>(
      base_, "a TCP listener", [raw] { event_del(raw->ev.get()); }, [raw] { event_add(raw->ev.get(), nullptr); });
  l->ev.reset(event_new(base_, l->fd.get(), EV_READ | EV_PERSIST, &TcpRelay::onAccept, raw));
  if (started_ && l->ev) event_add(l->ev.get(), nullptr);
  listeners_.push_back(std::move(l));
}

UniqueFd TcpRelay::removeListener(const SockAddr& addr) {
  for (auto it = listeners_.begin(); it != listeners_.end(); ++it) {
    if ((*it)->addr == addr) {
      UniqueFd fd = std::move((*it)->fd);
      listeners_.erase(it);
      return fd;
    }
  }
  return {};
}

bool TcpRelay::hasListener(const SockAddr& addr) const noexcept {
  return std::any_of(listeners_.begin(), listeners_.end(), [&](const auto& l) { return l->addr == addr; });
}

std::vector<SockAddr> TcpRelay::addresses() const {
  std::vector<SockAddr> out;
  for (const auto& l : listeners_) out.push_back(l->addr);
  return out;
}

void TcpRelay::start() {
  started_ = true;
  for (auto& l : listeners_) {
    if (l->ev) event_add(l->ev.get(), nullptr);
  }
}

void TcpRelay::closeAll() noexcept {
  while (!conns_.empty()) end(*conns_.back(), End::Done);
}

void TcpRelay::onAccept(evutil_socket_t, short, void* arg) noexcept {
  auto* l = static_cast<Listener*>(arg);
  l->relay->acceptFrom(*l);
}

void TcpRelay::acceptFrom(Listener& l) noexcept {
  const TimePoint now = Clock::now();
  for (int i = 0; i < kAcceptBatch; ++i) {
    sockaddr_in6 sa{};
    socklen_t len = sizeof sa;
    UniqueFd fd(accept4(l.fd.get(), reinterpret_cast<sockaddr*>(&sa), &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) {
      const int err = errno;
      if (wouldBlock(err)) return;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
      if (AcceptBackoff::isShortage(err)) {
        l.backoff->pauseAfter(err);
      } else if (log_.allow(now)) {
        LOG_WARN("frontend \"%s\": accept on %s (TCP) failed: %s%s", fe_.name().c_str(), l.addr.toString().c_str(),
                 strerror(err), log_.suffix());
      }
      return;
    }
    ++fe_.tcp.accepted;
    admit(std::move(fd), SockAddr(reinterpret_cast<const sockaddr*>(&sa), len), now);
  }
}

void TcpRelay::admit(UniqueFd fd, const SockAddr& peer, TimePoint now) noexcept {
  const FrontendConfig& cfg = fe_.config();
  TcpStats& s = fe_.tcp;
  if (!fe_.allows(peer)) {
    ++s.refused_acl;
    return;
  }
  if (conns_.size() >= cfg.tcp_max_connections) {
    ++s.refused_cap;
    return;
  }
  std::uint32_t same = 0;
  for (const auto& c : conns_) same += sameHost(c->peer, peer) ? 1 : 0;
  if (same >= cfg.tcp_max_per_client) {
    ++s.refused_per_client;
    return;
  }
  auto c = std::make_unique<Conn>();
  Conn& conn = *c;
  conn.relay = this;
  conn.index = conns_.size();
  conn.client = std::move(fd);
  conn.peer = peer;
  conn.last_active = now;
  conn.timer.reset(evtimer_new(base_, &TcpRelay::onConnTimer, &conn));
  conns_.push_back(std::move(c));
  fe_.tcp_open = static_cast<std::uint32_t>(conns_.size());
  connectNext(conn, now);
}

bool TcpRelay::connectNext(Conn& c, TimePoint now) noexcept {
  if (c.server != nullptr) {
    --c.server->active_sessions;
    c.server = nullptr;
  }
  c.upstream_rd.reset();
  c.upstream_wr.reset();
  c.upstream_rd_on = c.upstream_wr_on = false;
  c.upstream.reset();
  Backend* be = fe_.backend();
  while (c.attempts < kMaxAttempts) {
    Server* s = nullptr;
    if (c.attempts == 0) {
      s = be->pick();
      if (s != nullptr && !s->tcp.up) {
        // Its TCP checks fail: another eligible server whose TCP is up, if there is one.
        for (Server& candidate : be->servers()) {
          if (candidate.eligible() && candidate.tcp.up) {
            s = &candidate;
            break;
          }
        }
      }
    } else {
      // Failover: the next eligible server not tried yet, in the backend's order.
      for (Server& candidate : be->servers()) {
        const bool seen = std::any_of(c.tried.begin(), c.tried.begin() + c.attempts,
                                      [&](const SockAddr& a) { return a == candidate.addr(); });
        if (!seen && candidate.eligible()) {
          s = &candidate;
          break;
        }
      }
    }
    if (s == nullptr) break;
    c.tried[c.attempts++] = s->addr();
    UniqueFd fd(socket(s->addr().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd.valid()) {
      if (log_.allow(now)) {
        LOG_WARN("frontend \"%s\": cannot open a TCP socket to %s: %s%s", fe_.name().c_str(), s->label().c_str(),
                 strerror(errno), log_.suffix());
      }
      c.refused = false;
      break;
    }
    if (connect(fd.get(), s->addr().get(), s->addr().length()) != 0 && errno != EINPROGRESS) {
      c.refused = errno == ECONNREFUSED;
      continue;
    }
    c.server = s;
    ++s->active_sessions;
    c.upstream = std::move(fd);
    c.connecting = true;
    c.upstream_wr.reset(event_new(base_, c.upstream.get(), EV_WRITE | EV_PERSIST, &TcpRelay::onConnEvent, &c));
    event_add(c.upstream_wr.get(), nullptr);
    c.upstream_wr_on = true;
    armTimer(c, kConnectTimeout);
    return true;
  }
  if (c.attempts == 0) {
    end(c, End::RefusedNoBackend);
  } else {
    end(c, c.refused ? End::RefusedUpstream : End::RefusedConnect);
  }
  return false;
}

void TcpRelay::connected(Conn& c, TimePoint now) noexcept {
  c.connecting = false;
  c.last_active = now;
  auto setup = [&](Direction& d, int from, int to, std::uint64_t* bytes) {
    d.from = from;
    d.to = to;
    d.bytes = bytes;
    d.copyThrough(kSmallBytes);
  };
  setup(c.up, c.client.get(), c.upstream.get(), &fe_.tcp.bytes_to_server);
  setup(c.down, c.upstream.get(), c.client.get(), &fe_.tcp.bytes_to_client);
  c.upstream_wr.reset();
  c.upstream_wr_on = false;
  auto make = [&](EventPtr& ev, int fd, short what) {
    ev.reset(event_new(base_, fd, what | EV_PERSIST, &TcpRelay::onConnEvent, &c));
  };
  make(c.client_rd, c.client.get(), EV_READ);
  make(c.client_wr, c.client.get(), EV_WRITE);
  make(c.upstream_rd, c.upstream.get(), EV_READ);
  make(c.upstream_wr, c.upstream.get(), EV_WRITE);
  armTimer(c, fe_.config().tcp_idle_timeout);
  pump(c, now);
}

void TcpRelay::onConnEvent(evutil_socket_t fd, short what, void* arg) noexcept {
  auto& c = *static_cast<Conn*>(arg);
  TcpRelay& r = *c.relay;
  const TimePoint now = Clock::now();
  if (c.connecting) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c.upstream.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err == 0) {
      r.connected(c, now);
    } else {
      c.refused = err == ECONNREFUSED;
      r.connectNext(c, now);
    }
    return;
  }
  // Only the direction the event concerns: reading `from`, or writing `to`. The other one had
  // nothing new, and pumping it would cost a read that says EAGAIN.
  Direction& d = ((what & EV_READ) != 0 ? fd == c.up.from : fd == c.up.to) ? c.up : c.down;
  r.pump(c, now, &d);
}

void TcpRelay::onConnTimer(evutil_socket_t, short, void* arg) noexcept {
  auto& c = *static_cast<Conn*>(arg);
  TcpRelay& r = *c.relay;
  const TimePoint now = Clock::now();
  if (c.connecting) {
    c.refused = false;
    r.connectNext(c, now);
    return;
  }
  const milliseconds idle = r.fe_.config().tcp_idle_timeout;
  const auto quiet = std::chrono::duration_cast<milliseconds>(now - c.last_active);
  if (quiet >= idle) {
    r.end(c, End::Idle);
  } else {
    r.armTimer(c, idle - quiet);
  }
}

void TcpRelay::armTimer(Conn& c, milliseconds after) noexcept {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(after).count();
  const timeval tv{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
  if (c.timer) evtimer_add(c.timer.get(), &tv);
}

bool TcpRelay::pumpDirection(Conn&, Direction& d, bool& moved) noexcept {
  bool drained = false;  // a read returned less than it asked for: nothing more waits
  for (;;) {
    // First hand on what waits, so the pipe has room again.
    while (d.pending > 0) {
      ssize_t n;
      if (d.copying()) {
        n = ::send(d.to, d.buf.get() + d.head, d.tail - d.head, MSG_NOSIGNAL);
      } else {
        n = splice(d.pipe_r.get(), nullptr, d.to, nullptr, d.pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      }
      if (n > 0) {
        const auto sent = static_cast<std::size_t>(n);
        d.pending -= sent;
        *d.bytes += sent;
        d.full = false;
        moved = true;
        if (d.copying()) {
          d.head += sent;
          if (d.head == d.tail) d.head = d.tail = 0;
        }
        continue;
      }
      if (n < 0 && wouldBlock(errno)) {
        // `to` takes nothing more: wait until it is writable, and read no more meanwhile (its
        // socket stays readable, and watching it would wake the loop at once, forever).
        d.full = true;
        return true;
      }
      return false;                                 // reset, or the peer went away
    }
    if (d.eof) {
      if (!d.shut) {
        shutdown(d.to, SHUT_WR);  // the other side sees end of file: half-close passed on
        d.shut = true;
      }
      return true;
    }
    if (d.full) return true;
    // Level-triggered: a socket that still has bytes wakes the loop again, so a short recv
    // saves the read that would only say EAGAIN.
    if (drained) return true;
    if (d.to_splice && d.pending == 0) {
      d.to_splice = false;
      int p[2];
      if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0) {  // else (out of descriptors): keep copying
        d.buf.reset();
        d.pipe_r = UniqueFd(p[0]);
        d.pipe_w = UniqueFd(p[1]);
      }
    }
    ssize_t n;
    std::size_t asked;
    if (d.copying()) {
      if (d.tail == d.buf_size) return true;
      asked = d.buf_size - d.tail;
      n = ::recv(d.from, d.buf.get() + d.tail, asked, 0);
      if (n > 0 && static_cast<std::size_t>(n) == asked && d.buf_size == kSmallBytes) d.to_splice = true;
    } else {
      asked = kPipeBytes - d.pending;
      n = splice(d.from, nullptr, d.pipe_w.get(), nullptr, asked, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0 && errno == EINVAL && d.pending == 0) {
        // NOTE: splice needs both ends to support it; where a socket does not, copy instead.
        d.copyThrough(kCopyBytes);
        continue;
      }
    }
    if (n > 0) {
      const auto got = static_cast<std::size_t>(n);
      d.pending += got;
      if (d.copying()) d.tail += got;
      moved = true;
      if (d.pending >= d.capacity()) d.full = true;
      // (A splice may stop short at the pipe's 16 slots with more waiting: only a copy's
      // short read says the socket is empty.)
      drained = d.copying() && got < asked;
      continue;
    }
    if (n == 0) {
      d.eof = true;
      continue;
    }
    if (!wouldBlock(errno)) return false;
    // Nothing to read, or (with bytes waiting) a pipe whose slots are all taken: until `to`
    // takes some, do not read more.
    if (d.pending > 0) d.full = true;
    return true;
  }
}

bool TcpRelay::pump(Conn& c, TimePoint now, Direction* only) noexcept {
  bool moved = false;
  if ((only != &c.down && !pumpDirection(c, c.up, moved)) || (only != &c.up && !pumpDirection(c, c.down, moved))) {
    end(c, End::Error);
    return false;
  }
  if (moved) c.last_active = now;
  if (c.up.shut && c.down.shut) {
    end(c, End::Done);
    return false;
  }
  watch(c);
  return true;
}

void TcpRelay::watch(Conn& c) noexcept {
  auto set = [](EventPtr& ev, bool& on, bool want) {
    if (want == on || !ev) return;
    if (want) {
      event_add(ev.get(), nullptr);
    } else {
      event_del(ev.get());
    }
    on = want;
  };
  // Read a side only while its bytes have somewhere to go; write a side only while bytes wait for it.
  set(c.client_rd, c.client_rd_on, !c.up.eof && !c.up.full);
  set(c.upstream_wr, c.upstream_wr_on, c.up.pending > 0);
  set(c.upstream_rd, c.upstream_rd_on, !c.down.eof && !c.down.full);
  set(c.client_wr, c.client_wr_on, c.down.pending > 0);
}

void TcpRelay::end(Conn& c, End why) noexcept {
  TcpStats& s = fe_.tcp;
  switch (why) {
    case End::Done: ++s.closed_done; break;
    case End::Idle: ++s.closed_idle; break;
    case End::Error: ++s.closed_error; break;
    case End::RefusedUpstream: ++s.refused_upstream; break;
    case End::RefusedConnect: ++s.refused_connect; break;
    case End::RefusedNoBackend: ++s.refused_no_backend; break;
  }
  if (c.server != nullptr) --c.server->active_sessions;
  const std::size_t i = c.index;
  if (i + 1 != conns_.size()) {
    std::swap(conns_[i], conns_.back());
    conns_[i]->index = i;
  }
  conns_.pop_back();  // frees c: its events, then its sockets and pipes
  fe_.tcp_open = static_cast<std::uint32_t>(conns_.size());
}

}  // namespace udpx

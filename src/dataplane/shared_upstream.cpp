// Pools of shared upstream sockets: opened on first use, rotated, closed when idle or when
// their server drains.
#include "dataplane/shared_upstream.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "backends/backend.h"
#include "dataplane/frontend.h"

namespace udpx {
namespace {

// The frontend's upstream_pool_sockets, within what a Pool holds (the loader keeps it there).
std::size_t poolSize(const Frontend& fe) noexcept {
  const std::size_t n = fe.config().upstream_pool_sockets;
  return n < 1 ? 1 : n > SharedUpstream::kMaxSocketsPerPool ? SharedUpstream::kMaxSocketsPerPool : n;
}

}  // namespace

SharedUpstream::SharedUpstream(event_base* base, UpstreamSockets& sockets, event_callback_fn on_readable, void* owner)
    : base_(base), sockets_factory_(sockets), on_readable_(on_readable), owner_(owner) {}

SharedUpstream::~SharedUpstream() { closeAll(); }

PoolSocket* SharedUpstream::open(Frontend& fe, Server& server, TimePoint now, int& error) noexcept {
  UniqueFd fd = sockets_factory_.open(server.addr(), error);
  if (!fd.valid()) return nullptr;
  // A pool socket takes the replies of many clients at once: as deep a receive queue as an
  // unprivileged process may have (the kernel caps it at net.core.rmem_max and doubles that,
  // twice the default on a stock system). Once per socket, never per request.
  const int queue = kPoolReceiveBuffer;
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &queue, sizeof queue);
  std::uint32_t id;
  if (!free_ids_.empty()) {
    id = free_ids_.back();
    free_ids_.pop_back();
  } else {
    // NOTE: grows once per socket ever opened at the same time (a handful per server), never
    // per request.
    id = static_cast<std::uint32_t>(sockets_.size());
    sockets_.push_back(std::make_unique<PoolSocket>());
  }
  PoolSocket& s = *sockets_[id];
  s = PoolSocket{};
  s.id = id;
  s.fd = fd.release();
  s.frontend = &fe;
  s.server = &server;
  s.owner = owner_;
  s.opened = now;
  s.last_used = now;
  event_assign(&s.ev, base_, s.fd, EV_READ | EV_PERSIST, on_readable_, &s);
  event_add(&s.ev, nullptr);
  ++server.pool_sockets;
  ++open_;
  return &s;
}

void SharedUpstream::close(PoolSocket& s) noexcept {
  if (s.fd < 0) return;
  if (!s.retiring) retire(s);
  event_del(&s.ev);
  ::close(s.fd);
  s.fd = -1;
  --s.server->pool_sockets;
  --open_;
  free_ids_.push_back(s.id);
}

void SharedUpstream::retire(PoolSocket& s) noexcept {
  if (s.retiring) return;
  s.retiring = true;
  auto it = pools_.find(Key{s.frontend, s.server});
  if (it == pools_.end()) return;
  Pool& p = it->second;
  for (std::size_t k = 0; k < p.count; ++k) {
    if (p.ids[k] == s.id) {
      p.ids[k] = p.ids[p.count - 1];
      --p.count;
      break;
    }
  }
  if (p.count == 0) pools_.erase(it);
}

PoolSocket* SharedUpstream::pick(Frontend& fe, Server& server, TimePoint now, std::uint64_t batch, int& error) noexcept {
  Pool& p = pools_[Key{&fe, &server}];
  if (p.batch == batch && p.cursor < p.count) {
    // The rest of a receive batch: the socket its first request took (rotated then if due).
    PoolSocket* s = sockets_[p.ids[p.cursor]].get();
    ++s->uses;
    s->last_used = now;
    return s;
  }
  p.batch = batch;
  // Open the pool up to its size first, a socket per batch, then take turns.
  const std::size_t size = poolSize(fe);
  if (p.count > size) trim(p, size);
  if (p.count < size) {
    if (PoolSocket* s = open(fe, server, now, error)) {
      p.cursor = p.count;
      p.ids[p.count++] = s->id;
      ++s->uses;
      s->last_used = now;
      return s;
    }
    if (p.count == 0) {
      pools_.erase(Key{&fe, &server});
      return nullptr;
    }
  }
  p.cursor = (p.cursor + 1) % p.count;
  PoolSocket* s = sockets_[p.ids[p.cursor]].get();
  if (s->uses >= kRotateUses || now - s->opened >= kRotateAge) {
    // A fresh random port from time to time; the old socket finishes what is in flight.
    int e = 0;
    if (PoolSocket* fresh = open(fe, server, now, e)) {
      s->retiring = true;
      if (s->in_flight == 0) {
        close(*s);
      }
      p.ids[p.cursor] = fresh->id;
      s = fresh;
    }
  }
  ++s->uses;
  s->last_used = now;
  return s;
}

void SharedUpstream::trim(Pool& p, std::size_t size) noexcept {
  while (p.count > size && p.count > 1) {
    PoolSocket& s = *sockets_[p.ids[p.count - 1]];
    retire(s);
    if (s.in_flight == 0) close(s);
  }
}

void SharedUpstream::resized(const Frontend& fe) noexcept {
  const std::size_t size = poolSize(fe);
  for (auto& [key, pool] : pools_) {
    if (key.fe == &fe) trim(pool, size);
  }
}

PoolSocket* SharedUpstream::sibling(const PoolSocket& s, std::size_t attempt) noexcept {
  auto it = pools_.find(Key{s.frontend, s.server});
  if (it == pools_.end()) return nullptr;
  Pool& p = it->second;
  std::size_t at = p.count;
  for (std::size_t k = 0; k < p.count; ++k) {
    if (p.ids[k] == s.id) at = k;
  }
  if (at == p.count || attempt >= p.count) return nullptr;
  return sockets_[p.ids[(at + attempt) % p.count]].get();
}

void SharedUpstream::released(PoolSocket& s) noexcept {
  if (s.in_flight > 0) --s.in_flight;
  if (s.in_flight == 0 && (s.retiring || s.server->draining)) close(s);
}

bool SharedUpstream::sweep(TimePoint now) noexcept {
  for (auto& p : sockets_) {
    PoolSocket& s = *p;
    if (s.fd < 0 || s.in_flight > 0) continue;
    if (s.retiring || s.server->draining || now - s.last_used >= kIdleClose) close(s);
  }
  return open_ > 0;
}

void SharedUpstream::closeFrontend(const Frontend& fe) noexcept {
  for (auto& p : sockets_) {
    if (p->fd >= 0 && p->frontend == &fe) close(*p);
  }
}

void SharedUpstream::closeAll() noexcept {
  for (auto& p : sockets_) close(*p);
  pools_.clear();
}

}  // namespace udpx

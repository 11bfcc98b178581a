// Backend: server choice (round-robin / first, skipping servers that are down or draining,
// failing open or dropping when all are down) and the health state changes of its servers.
#include "backends/backend.h"

#include <algorithm>
#include <stdexcept>

#include "backends/health.h"

namespace udpx {

// ---- Server ----

Server::Server(SockAddr addr, std::string origin, Backend* be, const HealthConfig& hc, bool up, TimePoint now)
    : state(hc.rise, hc.fall, up, now),
      backend(be),
      silent_clients(std::max<std::size_t>(hc.fall, kSilentClientsToFail)),
      addr_(addr),
      label_(addr.toString()),
      origin_(std::move(origin)) {}

Server::~Server() = default;

std::string_view Server::stateName() const noexcept {
  if (draining) return "draining";
  if (state.up()) return "up";
  return pending ? "pending" : "down";
}

// ---- Backend ----

Backend::Backend(const BackendConfig& cfg, event_base* base, std::mt19937_64* rng)
    : cfg_(cfg), base_(base), rng_(rng), probes_active_(base != nullptr && probeIsActive(cfg.health.probe)) {
  const TimePoint now = Clock::now();
  if (base_ != nullptr) {
    sweep_ev_.reset(evtimer_new(base_, &Backend::onSweep, this));
    if (!sweep_ev_) throw std::runtime_error("cannot create a timer for backend " + cfg_.name);
  }
  for (const ServerConfig& sc : cfg_.servers) {
    if (sc.literal) addServer(*sc.literal, sc.text, false, now);
  }
}

Backend::~Backend() = default;

Server& Backend::addServer(const SockAddr& addr, const std::string& origin, bool probe_first, TimePoint now) {
  // Without probes nothing could ever vouch for a new address: it is used at once.
  const bool up = !(probe_first && probes_active_);
  auto s = std::make_unique<Server>(addr, origin, this, cfg_.health, up, now);
  s->pending = !up;
  if (!up) {
    s->health.reason = "new address of " + origin + ", not used until a probe says it is healthy";
  }
  if (base_ != nullptr && rng_ != nullptr) {
    s->prober = std::make_unique<Prober>(base_, *s, cfg_.health, *rng_);
    if (probes_started_ && probes_active_) s->prober->start(milliseconds{0});
  }
  servers_.push_back(std::move(s));
  return *servers_.back();
}

void Backend::applyAddresses(const std::string& origin, const std::vector<SockAddr>& addrs, bool later,
                             TimePoint now) {
  auto listed = [&](const Server& s) { return std::find(addrs.begin(), addrs.end(), s.addr()) != addrs.end(); };
  for (const SockAddr& a : addrs) {
    Server* known = nullptr;
    for (auto& s : servers_) {
      if (s->origin() == origin && !s->draining && s->addr() == a) known = s.get();
    }
    if (known != nullptr) {
      known->leaving = false;  // back in DNS before it was replaced
      continue;
    }
    Server& s = addServer(a, origin, later, now);
    s.health.since_unix_ms = unixMillisNow();  // it is new now, not since the start
    LOG_INFO("backend \"%s\": new server %s from %s%s", cfg_.name.c_str(), s.label().c_str(), origin.c_str(),
             s.pending ? ", used once a probe says it is healthy" : "");
  }
  // Make before break: while none of the name's addresses is usable yet, the ones it no longer
  // has keep serving until one is.
  const bool usable = std::any_of(servers_.begin(), servers_.end(), [&](const auto& s) {
    return s->origin() == origin && !s->draining && !s->leaving && s->eligible() && listed(*s);
  });
  for (auto& s : servers_) {
    if (s->origin() != origin || s->draining || listed(*s)) continue;
    if (usable || s->pending || !s->eligible()) {
      drain(*s, now);
    } else if (!s->leaving) {
      s->leaving = true;
      LOG_INFO("backend \"%s\": server %s is no longer in DNS for %s, and used until a new address is up",
               cfg_.name.c_str(), s->label().c_str(), origin.c_str());
    }
  }
  drainUnconfigured(now);
  updateAllDown(now);
}

void Backend::replaced(const std::string& origin, TimePoint now) {
  for (auto& s : servers_) {
    if (s->leaving && s->origin() == origin) {
      s->leaving = false;
      drain(*s, now);
    }
  }
  drainUnconfigured(now);
}

void Backend::onSweep(evutil_socket_t, short, void* arg) noexcept {
  auto* be = static_cast<Backend*>(arg);
  if (be->sweep() > 0) {
    const timeval tv{1, 0};
    evtimer_add(be->sweep_ev_.get(), &tv);
  }
}

void Backend::drain(Server& s, TimePoint now) {
  if (s.draining) return;
  s.draining = true;
  s.prober.reset();  // no more probes: it takes no new sessions anyway
  if (sweep_ev_) {
    const timeval tv{1, 0};
    evtimer_add(sweep_ev_.get(), &tv);
  }
  LOG_INFO("backend \"%s\": server %s (%s) is no longer in DNS: draining (%u sessions finish on it, no new ones)",
           cfg_.name.c_str(), s.label().c_str(), s.origin().c_str(), s.active_sessions);
  updateAllDown(now);
}

std::size_t Backend::sweep() noexcept {
  std::size_t draining = 0;
  for (std::size_t i = 0; i < servers_.size();) {
    Server& s = *servers_[i];
    if (s.draining && !s.inUse()) {
      LOG_DEBUG("backend \"%s\": drained server %s removed", cfg_.name.c_str(), s.label().c_str());
      servers_.erase(servers_.begin() + static_cast<std::ptrdiff_t>(i));
      if (next_ > i) --next_;
      continue;
    }
    if (s.draining) ++draining;
    ++i;
  }
  return draining;
}

void Backend::startProbes() {
  probes_started_ = true;
  if (!probes_active_) return;
  // Spread the first probes over the first interval (at most a second), so many servers are
  // not all asked at the same instant, and a fresh start learns the pool's health quickly.
  const auto spread = std::max<std::int64_t>(1, std::min<std::int64_t>(cfg_.health.interval.count(), 1000));
  for (auto& s : servers_) {
    if (s->prober && !s->draining) s->prober->start(milliseconds{static_cast<std::int64_t>((*rng_)() % static_cast<std::uint64_t>(spread))});
  }
}

namespace {

// A 64-bit mix of the client's IP and the server's address: the rendezvous score.
std::uint64_t mixBytes(std::uint64_t h, const void* data, std::size_t len) noexcept {
  const auto* p = static_cast<const std::uint8_t*>(data);
  for (std::size_t i = 0; i < len; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

std::uint64_t finalMix(std::uint64_t h) noexcept {
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

std::uint64_t clientHash(const SockAddr& c) noexcept {
  const std::uint64_t basis = 0xcbf29ce484222325ULL;
  if (c.family() == AF_INET) return mixBytes(basis, &c.v4().sin_addr, sizeof c.v4().sin_addr);
  if (c.family() == AF_INET6) return mixBytes(basis, &c.v6().sin6_addr, sizeof c.v6().sin6_addr);
  return basis;
}

std::uint64_t serverScore(std::uint64_t client, const SockAddr& s) noexcept {
  std::uint64_t h = client;
  if (s.family() == AF_INET) {
    h = mixBytes(h, &s.v4().sin_addr, sizeof s.v4().sin_addr);
    h = mixBytes(h, &s.v4().sin_port, sizeof s.v4().sin_port);
  } else if (s.family() == AF_INET6) {
    h = mixBytes(h, &s.v6().sin6_addr, sizeof s.v6().sin6_addr);
    h = mixBytes(h, &s.v6().sin6_port, sizeof s.v6().sin6_port);
  }
  return finalMix(h);
}

}  // namespace

Server* Backend::pickHashed(const SockAddr& client, bool eligible_only) noexcept {
  const std::uint64_t c = clientHash(client);
  Server* best = nullptr;
  std::uint64_t best_score = 0;
  for (auto& s : servers_) {
    if (eligible_only ? !s->eligible() : s->draining) continue;
    const std::uint64_t score = serverScore(c, s->addr());
    if (best == nullptr || score > best_score) {
      best = s.get();
      best_score = score;
    }
  }
  return best;
}

Server* Backend::pick(const SockAddr* client) noexcept {
  const std::size_t n = servers_.size();
  if (n == 0) return nullptr;
  if (cfg_.balance == Balance::Hash && client != nullptr) {
    if (Server* s = pickHashed(*client, true)) return s;
    if (cfg_.on_all_down == OnAllDown::Drop) return nullptr;
    if (Server* s = pickHashed(*client, false)) return s;
    return servers_[clientHash(*client) % n].get();
  }
  if (cfg_.balance == Balance::First) {
    for (auto& s : servers_) {
      if (s->eligible()) return s.get();
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      Server& s = *servers_[(next_ + i) % n];
      if (s.eligible()) {
        next_ = (next_ + i + 1) % n;
        return &s;
      }
    }
  }
  // Nothing is up.
  if (cfg_.on_all_down == OnAllDown::Drop) return nullptr;
  // Fail open: prefer the servers still in the pool over draining ones.
  for (std::size_t i = 0; i < n; ++i) {
    Server& s = *servers_[(next_ + i) % n];
    if (!s.draining) {
      if (cfg_.balance == Balance::First) return &s;  // keep the preference: the primary is retried first
      next_ = (next_ + i + 1) % n;
      return &s;
    }
  }
  Server& s = *servers_[next_ % n];
  next_ = (next_ + 1) % n;
  return &s;
}

std::size_t Backend::inPool() const noexcept {
  return static_cast<std::size_t>(std::count_if(servers_.begin(), servers_.end(), [](const auto& s) { return !s->draining; }));
}

std::size_t Backend::silentClientsToFail() const noexcept {
  return std::max<std::size_t>(cfg_.health.fall, kSilentClientsToFail);
}

bool Backend::allDown() const noexcept {
  bool any = false;
  for (const auto& s : servers_) {
    if (s->draining) continue;
    if (s->state.up()) return false;
    any = true;
  }
  return any;
}

std::string_view Backend::noReplyHint() const noexcept {
  return probeOf(cfg_.health.probe.type).no_reply_hint;
}

std::string_view Backend::refusedHint() const noexcept {
  return probeOf(cfg_.health.probe.type).refused_hint;
}

void Backend::setProblem(Server& s, std::string reason, std::string_view hint) {
  s.health.reason = std::move(reason);
  s.health.hint = std::string(hint);
}

void Backend::setRefused(Server& s, std::string_view what) {
  setProblem(s, s.label() + " refused " + std::string(what) + ": nothing listens on that port (ICMP port unreachable)",
             std::string(refusedHint()) + ", or correct the address and port in backend." + cfg_.name + ".servers");
}

// ---- passive signals ----

void Backend::markRefused(Server& s, TimePoint now) noexcept {
  ++s.stats.refused;
  if (probes_active_) {
    // The probes decide: one is sent now, and finds the port closed too if it is.
    if (s.state.up() && s.prober) s.prober->probeSoon(now);
    return;
  }
  const bool was_up = s.state.up();
  const auto c = s.state.forceDown(now);
  if (was_up || s.health.reason.empty()) {
    try {
      setRefused(s, "a request");
    } catch (...) {
    }
  }
  passiveChanged(s, c, now);
}

void Backend::passiveReplySlow(Server& s, TimePoint now) noexcept {
  s.silent_clients.clear();
  if (!probes_active_) changed(s, s.state.success(now), now);
}

void Backend::passiveUnanswered(Server& s, const SockAddr& client, std::uint32_t requests, TimePoint now,
                                bool failure) noexcept {
  s.health.unanswered += requests;
  s.last_unanswered = now;
  if (!failure || probes_active_ || !s.state.up()) return;
  if (s.silent_clients.add(client) < silentClientsToFail()) return;
  s.silent_clients.clear();
  const auto c = s.state.forceDown(now);
  try {
    setProblem(s, "no reply from " + s.label() + " to requests of " + std::to_string(silentClientsToFail()) +
                      " different clients in a row (" + std::to_string(s.health.unanswered) +
                      " requests unanswered so far)",
               noReplyHint());
  } catch (...) {
  }
  passiveChanged(s, c, now);
}

void Backend::passiveChanged(Server& s, HealthState::Change c, TimePoint now) noexcept {
  changed(s, c, now);
  // Without probes, nothing else will ever find out that it is back: try it after fail_timeout.
  if (!probes_active_ && c == HealthState::Change::WentDown && s.prober) s.prober->retryAfter(cfg_.fail_timeout);
}

void Backend::retry(Server& s, TimePoint now) noexcept {
  if (s.draining) return;
  const auto c = s.state.forceUp(now);
  if (c == HealthState::Change::WentUp) {
    LOG_INFO("backend \"%s\": trying server %s again after fail_timeout %lld ms (no active health probe)",
             cfg_.name.c_str(), s.label().c_str(), static_cast<long long>(cfg_.fail_timeout.count()));
  }
  changed(s, c, now);
}

// ---- probes ----

void Backend::probeSucceeded(Server& s, TimePoint now) noexcept {
  const auto c = s.state.success(now);
  // A failed probe before this one is past: its warning goes (changed() clears it on WentUp).
  if (c == HealthState::Change::None && s.state.up()) {
    s.health.reason.clear();
    s.health.hint.clear();
  }
  changed(s, c, now);
  if (c == HealthState::Change::WentUp) {
    const bool was_pending = s.pending;
    s.pending = false;
    if (was_pending) {
      replaced(s.origin(), now);
    } else {
      drainUnconfigured(now);
    }
  }
}

void Backend::probeFailed(Server& s, TimePoint now, Problem p, std::string_view reason, std::string_view hint,
                          bool definitive) noexcept {
  // Counted here, the one place every failed probe passes, so that the counter and the
  // sentence below cannot disagree.
  ++s.health.probe_failures;
  const auto c = definitive ? s.state.forceDown(now) : s.state.failure(now);
  try {
    switch (p) {
      case Problem::NoReply: {
        // With probes, only probes move the state: failures() is the failed probes in a row.
        const std::uint32_t n = s.state.failures();
        setProblem(s, "no reply from " + s.label() + " to the last probe" +
                          (n > 1 ? " (" + std::to_string(n) + " failed in a row)" : ""),
                   noReplyHint());
        break;
      }
      case Problem::Refused:
        setRefused(s, "the probe");
        break;
      case Problem::Judged:
        setProblem(s, s.label() + ": " + std::string(reason), hint);
        break;
      case Problem::Unanswered:
      case Problem::SendError:
        setProblem(s, std::string(reason), hint);
        break;
    }
  } catch (...) {
  }
  changed(s, c, now);
}

// ---- state changes: one log line each ----

void Backend::changed(Server& s, HealthState::Change c, TimePoint now) noexcept {
  if (c == HealthState::Change::None) return;
  {
    s.health.since_unix_ms = unixMillisNow();
    if (c == HealthState::Change::WentDown) {
      LOG_WARN("backend \"%s\": server %s is DOWN: %s — %s", cfg_.name.c_str(), s.label().c_str(),
               s.health.reason.c_str(), s.health.hint.c_str());
    } else {
      const std::string rtt = s.health.last_rtt_seconds >= 0
                                  ? ", probe round trip " + std::to_string(s.health.last_rtt_seconds * 1000).substr(0, 6) + " ms"
                                  : "";
      LOG_INFO("backend \"%s\": server %s is UP%s", cfg_.name.c_str(), s.label().c_str(), rtt.c_str());
      s.health.reason.clear();
      s.health.hint.clear();
    }
  }
  updateAllDown(now);
}

void Backend::updateAllDown(TimePoint now) noexcept {
  const bool all = allDown();
  if (all && !all_down_) {
    all_down_ = true;
    all_down_since_ = now;
    if (cfg_.on_all_down == OnAllDown::Drop) {
      LOG_ERROR("backend \"%s\": ALL %zu servers are down — new sessions are DROPPED (on_all_down = \"drop\") "
                "until one comes back; see `udpx status` for why each one is down",
                cfg_.name.c_str(), inPool());
    } else {
      LOG_ERROR("backend \"%s\": ALL %zu servers are down — forwarding to all of them anyway (fail open) until one "
                "comes back; see `udpx status` for why each one is down (on_all_down = \"drop\" drops instead)",
                cfg_.name.c_str(), inPool());
    }
  } else if (!all && all_down_) {
    all_down_ = false;
    LOG_INFO("backend \"%s\": a server is up again; no longer %s", cfg_.name.c_str(),
             cfg_.on_all_down == OnAllDown::Drop ? "dropping" : "failing open");
  }
}

}  // namespace udpx

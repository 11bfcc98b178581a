// Backend reloads: new settings at once, literal servers added, kept (with their health state and
// sessions) or drained.
#include <algorithm>

#include "backends/backend.h"
#include "backends/health.h"

namespace udpx {
namespace {

bool sameHealth(const HealthConfig& a, const HealthConfig& b) {
  return a.probe.type == b.probe.type && a.probe.query == b.probe.query && a.probe.send == b.probe.send &&
         a.probe.expect == b.probe.expect && a.interval == b.interval && a.timeout == b.timeout &&
         a.rise == b.rise && a.fall == b.fall;
}

// The literal server entry of `cfg` that `s` came from, if any (host-name entries do not count).
const ServerConfig* literalEntry(const BackendConfig& cfg, const Server& s) {
  for (const ServerConfig& sc : cfg.servers) {
    if (sc.literal && *sc.literal == s.addr()) return &sc;
  }
  return nullptr;
}

bool isHostNameOrigin(const BackendConfig& cfg, const Server& s) {
  return std::any_of(cfg.servers.begin(), cfg.servers.end(),
                     [&](const ServerConfig& sc) { return !sc.literal && sc.text == s.origin(); });
}

}  // namespace

void Backend::drainRemoved(Server& s) {
  if (s.draining) return;
  s.draining = true;
  s.prober.reset();
  if (sweep_ev_) {
    const timeval tv{1, 0};
    evtimer_add(sweep_ev_.get(), &tv);
  }
  LOG_INFO("backend \"%s\": server %s is no longer in the configuration: draining (%u sessions finish on it, no new "
           "ones)",
           cfg_.name.c_str(), s.label().c_str(), s.active_sessions);
}

void Backend::reconfigure(const BackendConfig& cfg, TimePoint now) {
  const BackendConfig before = cfg_;
  const bool health_changed = !sameHealth(before.health, cfg.health);
  cfg_ = cfg;
  probes_active_ = base_ != nullptr && probeIsActive(cfg_.health.probe);

  // Servers that stay, and the literal ones that go.
  bool usable_stays = false;
  for (auto& s : servers_) {
    if (s->draining) continue;
    if (s->unconfigured || isHostNameOrigin(before, *s)) {
      usable_stays = usable_stays || s->eligible();
      continue;
    }
    if (literalEntry(cfg_, *s) == nullptr) {
      drainRemoved(*s);
    } else {
      usable_stays = usable_stays || s->eligible();
    }
  }
  // New health settings for those that stay: thresholds and a prober of the new kind.
  if (health_changed) {
    for (auto& s : servers_) {
      if (s->draining) continue;
      s->state = HealthState(cfg_.health.rise, cfg_.health.fall, s->state.up(), s->state.since());
      s->prober.reset();
      if (base_ != nullptr && rng_ != nullptr) {
        s->prober = std::make_unique<Prober>(base_, *s, cfg_.health, *rng_);
        if (probes_started_ && probes_active_) s->prober->start(milliseconds{0});
      }
    }
  }
  // New literal servers: probed first while another server can take the traffic.
  for (const ServerConfig& sc : cfg_.servers) {
    if (!sc.literal) continue;
    const bool known = std::any_of(servers_.begin(), servers_.end(),
                                   [&](const auto& s) { return !s->draining && s->addr() == *sc.literal; });
    if (known) continue;
    Server& s = addServer(*sc.literal, sc.text, usable_stays, now);
    if (s.pending) s.health.reason = "new in the configuration, not used until a probe says it is healthy";
    LOG_INFO("backend \"%s\": new server %s%s", cfg_.name.c_str(), s.label().c_str(),
             s.pending ? ", used once a probe says it is healthy" : "");
  }
  drainUnconfigured(now);
  sweep();
  updateAllDown(now);
}

void Backend::releaseOrigin(const std::string& origin, TimePoint now) {
  const bool other_usable = std::any_of(servers_.begin(), servers_.end(), [&](const auto& s) {
    return s->origin() != origin && !s->leaving && s->eligible();
  });
  for (auto& s : servers_) {
    if (s->draining || s->origin() != origin) continue;
    if (other_usable || !s->eligible()) {
      drainRemoved(*s);
    } else if (!s->unconfigured) {
      s->leaving = true;
      s->unconfigured = true;
      LOG_INFO("backend \"%s\": server %s is no longer in the configuration (%s), and used until another server is "
               "up",
               cfg_.name.c_str(), s->label().c_str(), origin.c_str());
    }
  }
  updateAllDown(now);
}

void Backend::drainUnconfigured(TimePoint now) {
  const bool other_usable = std::any_of(servers_.begin(), servers_.end(), [](const auto& s) {
    return !s->leaving && s->eligible();
  });
  if (!other_usable) return;
  for (auto& s : servers_) {
    if (!s->unconfigured || s->draining) continue;
    s->leaving = false;
    drainRemoved(*s);
  }
  (void)now;
}

void Backend::retire(TimePoint now) {
  for (auto& s : servers_) {
    s->draining = true;
    s->prober.reset();
  }
  probes_active_ = false;
  sweep();
  (void)now;
}

std::uint32_t Backend::activeSessions() const noexcept {
  std::uint32_t n = 0;
  for (const auto& s : servers_) n += s->active_sessions + s->in_flight + s->pool_sockets;
  return n;
}

}  // namespace udpx

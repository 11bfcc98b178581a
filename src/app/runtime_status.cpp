// Runtime::statusJson: the whole state of the proxy as one JSON document — counters, health,
// and every problem as a plain sentence with a hint — for `udpx status`, SIGUSR1 and /status.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "backends/health.h"
#include "config/duration.h"
#include "status/json.h"
#include "app/runtime.h"
#include "base/version.h"

namespace udpx {
namespace {

using json::quote;

// A session table that evicted within this long is reported as full.
constexpr std::chrono::seconds kEvictionMemory{60};

struct Finding {
  std::string severity;  // "error": something is down or wrong (exit 1); "warning": worth a look
  std::string subject;   // "backend ntp_up, server 192.168.0.1:123"
  std::string problem;   // a plain sentence
  std::string hint;      // how to fix it
};

std::string num(std::uint64_t v) { return std::to_string(v); }

std::string real(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

std::string boolean(bool b) { return b ? "true" : "false"; }

}  // namespace

std::string Runtime::statusJson() const {
  const TimePoint now = Clock::now();
  const std::int64_t now_ms = unixMillisNow();
  std::vector<Finding> findings;

  std::string o = "{\"frontends\": {";
  bool first = true;
  for (const auto& fe : frontends_) {
    const FrontendStats& s = fe->stats;
    const FrontendConfig& c = fe->config();
    const std::uint32_t active = proxy_->sessions().laneSize(fe->lane);
    o += (first ? "" : ", ") + quote(fe->name()) + ": {";
    first = false;
    o += "\"received\": " + num(s.received) + ", \"received_bytes\": " + num(s.received_bytes);
    o += ", \"forwarded\": " + num(s.forwarded) + ", \"forwarded_bytes\": " + num(s.forwarded_bytes);
    o += ", \"replied\": " + num(s.replied) + ", \"replied_bytes\": " + num(s.replied_bytes);
    o += ", \"dropped\": {";
    for (std::size_t i = 0; i < kDropCount; ++i) {
      o += (i ? ", " : "") + quote(dropName(static_cast<Drop>(i))) + ": " + num(s.dropped[i]);
    }
    o += "}, \"sessions\": {\"active\": " + num(active);
    o += ", \"created\": " + num(s.sessions_created) + ", \"expired\": " + num(s.sessions_expired);
    o += ", \"evicted\": " + num(s.sessions_evicted) + ", \"closed\": " + num(s.sessions_closed);
    o += ", \"max\": " + num(c.max_sessions) + "}";
    o += ", \"preset\": " + quote(presetDefaults(c.preset).name) + ", \"backend\": " + quote(c.backend);
    o += ", \"listen\": [";
    for (std::size_t i = 0; i < fe->listeners().size(); ++i) {
      o += (i ? ", " : "") + quote(fe->listeners()[i]->addr.toString());
    }
    o += "]";
    const bool recently_full = s.sessions_evicted > 0 && now - fe->last_eviction < kEvictionMemory;
    o += ", \"table_full\": " + boolean(recently_full) + "}";
    if (recently_full) {
      findings.push_back({"error", "frontend " + fe->name(),
                          "session table full: " + num(s.sessions_evicted) + " sessions evicted so far (max_sessions " +
                              num(c.max_sessions) + " here, " + num(proxy_->sessions().globalCap()) +
                              " for the process), clients may lose replies",
                          "raise frontend." + fe->name() + ".max_sessions (and global.max_sessions), or shorten "
                          "session_timeout"});
    }
    if (s.dropped[static_cast<std::size_t>(Drop::NoBackend)] > 0 && fe->backend()->servers().empty()) {
      findings.push_back({"error", "frontend " + fe->name(),
                          num(s.dropped[static_cast<std::size_t>(Drop::NoBackend)]) +
                              " requests dropped: backend " + fe->backend()->name() + " has no server address",
                          "see the backend's problems below"});
    }
  }

  o += "}, \"backends\": {";
  first = true;
  for (const auto& be : backends_) {
    const BackendConfig& bc = be->config();
    const HealthConfig& h = bc.health;
    o += (first ? "" : ", ") + quote(be->name()) + ": {";
    first = false;
    o += "\"balance\": " + quote(bc.balance == Balance::First ? "first" : "round-robin");
    o += ", \"on_all_down\": " + quote(bc.on_all_down == OnAllDown::Drop ? "drop" : "forward");
    o += ", \"all_down\": " + boolean(be->allDown());
    std::size_t up = 0, in_pool = 0;
    for (const Server& sv : be->servers()) {
      if (sv.draining) continue;
      ++in_pool;
      up += sv.state.up() ? 1 : 0;
    }
    o += ", \"state\": " + quote(in_pool == 0 ? "empty" : up == in_pool ? "up" : up == 0 ? "down" : "degraded");
    o += ", \"servers_up\": " + num(up) + ", \"servers_in_pool\": " + num(in_pool);
    o += ", \"health\": {\"type\": " + quote(probeTypeName(h.probe.type)) + ", \"active\": " + boolean(be->probesActive());
    o += ", \"interval_ms\": " + std::to_string(h.interval.count()) + ", \"timeout_ms\": " + std::to_string(h.timeout.count());
    o += ", \"rise\": " + num(h.rise) + ", \"fall\": " + num(h.fall) + "}";
    o += ", \"names\": {";
    bool nfirst = true;
    if (resolver_) {
      for (const auto& np : resolver_->names()) {
        const Resolver::Name& n = *np;
        if (n.backend != be.get()) continue;
        o += (nfirst ? "" : ", ") + quote(n.origin) + ": {\"host\": " + quote(n.host) + ", \"addresses\": [";
        nfirst = false;
        for (std::size_t i = 0; i < n.addresses.size(); ++i) o += (i ? ", " : "") + quote(n.addresses[i].ipString());
        o += "], \"from_hosts_file\": " + boolean(n.from_hosts) + ", \"resolved_unix_ms\": " + std::to_string(n.resolved_unix_ms);
        o += ", \"ttl_s\": " + num(n.ttl_s) + ", \"error\": " + quote(n.error) + ", \"resolver\": " + quote(resolver_->source());
        if (!n.from_hosts && n.settled) {
          o += ", \"next_in_ms\": " + std::to_string(std::max<std::int64_t>(
                                          0, std::chrono::duration_cast<milliseconds>(n.next - now).count()));
        }
        o += "}";
        if (!n.error.empty()) {
          const std::string hint = "check " + resolver_->source() + " and that the name is spelt right";
          if (n.addresses.empty()) {
            findings.push_back({"error", "backend " + be->name(), n.error, hint});
          } else {
            findings.push_back({"warning", "backend " + be->name(),
                                n.error + "; using its last known addresses (" + std::to_string(n.addresses.size()) + ")",
                                hint});
          }
        }
      }
    }
    o += "}, \"servers\": {";
    bool sfirst = true;
    for (const Server& sv : be->servers()) {
      const ServerHealth& hh = sv.health;
      o += (sfirst ? "" : ", ") + quote(sv.label()) + ": {";
      sfirst = false;
      o += "\"sessions\": " + num(sv.stats.sessions) + ", \"forwarded\": " + num(sv.stats.forwarded);
      o += ", \"replied\": " + num(sv.stats.replied) + ", \"refused\": " + num(sv.stats.refused);
      o += ", \"down\": " + boolean(!sv.eligible());
      o += ", \"state\": " + quote(sv.stateName()) + ", \"origin\": " + quote(sv.origin());
      o += ", \"active_sessions\": " + num(sv.active_sessions);
      o += ", \"health\": {\"up\": " + boolean(sv.state.up());
      o += ", \"since_unix_ms\": " + std::to_string(hh.since_unix_ms != 0 ? hh.since_unix_ms : started_unix_ms_);
      o += ", \"probes\": " + num(hh.probes) + ", \"probe_failures\": " + num(hh.probe_failures);
      o += ", \"consecutive_failures\": " + num(sv.state.failures());
      o += ", \"last_probe\": " + quote(hh.probes == 0 ? "none" : sv.state.failures() == 0 ? "ok" : "failed");
      o += ", \"last_rtt_seconds\": " + (hh.last_rtt_seconds < 0 ? std::string("null") : real(hh.last_rtt_seconds));
      o += ", \"unanswered\": " + num(hh.unanswered);
      if (sv.prober) o += ", \"probe_interval_ms\": " + std::to_string(sv.prober->interval().count());
      o += ", \"reason\": " + quote(hh.reason) + ", \"hint\": " + quote(hh.hint) + "}}";
      const std::string subject = "backend " + be->name() + ", server " + sv.label();
      if (sv.draining) continue;
      if (!sv.state.up() && !sv.pending) {
        findings.push_back({"error", subject, hh.reason.empty() ? "down" : hh.reason, hh.hint});
      } else if ((sv.state.up() || (sv.pending && sv.state.failures() > 0)) && !hh.reason.empty()) {
        findings.push_back({"warning", subject, hh.reason, hh.hint});
      }
    }
    o += "}}";
    if (be->servers().empty()) {
      findings.push_back({"error", "backend " + be->name(), "no server address: requests through it are dropped",
                          "check that the servers' host names resolve"});
    } else if (be->allDown()) {
      const std::string since = formatDuration(std::chrono::duration_cast<milliseconds>(now - be->allDownSince()));
      findings.push_back(
          {"error", "backend " + be->name(),
           bc.on_all_down == OnAllDown::Drop
               ? "all servers are down (for " + since + "): new sessions are dropped (on_all_down = \"drop\")"
               : "all servers are down (for " + since + "): forwarding to all of them anyway (fail open)",
           "fix the servers listed here; each has its own reason"});
    }
  }
  o += "}";

  bool ok = true;
  o += ", \"problems\": [";
  for (std::size_t i = 0; i < findings.size(); ++i) {
    const Finding& f = findings[i];
    if (f.severity == "error") ok = false;
    o += (i ? ", " : "") + std::string("{\"severity\": ") + quote(f.severity) + ", \"subject\": " + quote(f.subject) +
         ", \"problem\": " + quote(f.problem) + ", \"hint\": " + quote(f.hint) + "}";
  }
  o += "], \"ok\": " + boolean(ok);
  o += ", \"udpx\": {\"version\": " + quote(UDPX_VERSION) + ", \"pid\": " + std::to_string(getpid());
  o += ", \"config\": " + quote(cfg_.file) + ", \"started_unix_ms\": " + std::to_string(started_unix_ms_);
  o += ", \"now_unix_ms\": " + std::to_string(now_ms) + "}";
  return o + "}";
}

}  // namespace udpx

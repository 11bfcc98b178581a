// takeSnapshot: reads the frontends, backends, resolver, reloads and process of the runtime,
// and turns what is wrong with them into findings (a sentence and a hint each).
#include "status/snapshot.h"

#include <ctime>

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "backends/backend.h"
#include "backends/health.h"
#include "backends/resolver.h"
#include "base/version.h"
#include "config/duration.h"
#include "dataplane/frontend.h"
#include "dataplane/proxy.h"
#include "dataplane/tcp_relay.h"

namespace udpx {
static_assert(kRecentClientsKept == ClientTable::kCapacity);
namespace {

// A session table that evicted within this long is reported as full.
constexpr std::chrono::seconds kEvictionMemory{60};
// A frontend that refused a request for its rate limits within this long says so (a warning).
constexpr std::chrono::milliseconds kLimitedMemory{60000};
// Requests a server with good probes left unanswered within this long are reported.
constexpr std::chrono::seconds kUnansweredMemory{60};

std::string num(std::uint64_t v) { return std::to_string(v); }

// The session table's view of a frontend: none before the data path attached it.
struct Lane {
  std::uint32_t open = 0;
  std::uint32_t global_cap = 0;
};
Lane laneOf(const Frontend& fe) {
  if (fe.proxy() == nullptr) return {};
  return {fe.proxy()->sessions().laneSize(fe.lane()), fe.proxy()->sessions().globalCap()};
}

// The recent-clients table: how many were seen within kRecentClientWindow, and each one when asked.
void clients(const Frontend& fe, TimePoint now, std::int64_t now_unix_ms, bool each, FrontendSnapshot& o) {
  const ClientTable& t = fe.clients;
  t.forEachRecent([&](const ClientRecord& r) {
    const bool recent = now - r.last_seen < kRecentClientWindow;
    o.clients_recent += recent ? 1 : 0;
    if (!each && !recent) return false;
    if (each) {
      ClientSnapshot c;
      c.address = r.address().toString();
      c.requests = r.requests;
      c.answers = r.answers;
      c.unanswered = r.unanswered;
      for (std::size_t i = 0; i < kDropCount; ++i) c.dropped[i] = r.dropped[i];
      c.last_seen_unix_ms = now_unix_ms - std::chrono::duration_cast<milliseconds>(now - r.last_seen).count();
      o.clients.push_back(std::move(c));
    }
    return true;
  });
  const ClientRecord* oldest = t.leastRecent();
  o.clients_table_full = t.size() == ClientTable::kCapacity && oldest != nullptr &&
                         now - oldest->last_seen < kRecentClientWindow;
}

// "50/s", "30/min": a rate per minute as the config writes it.
std::string rateText(std::uint64_t per_minute) {
  return per_minute % 60 == 0 ? num(per_minute / 60) + "/s" : num(per_minute) + "/min";
}

// The most rate-limited addresses and prefixes, and a finding while they are being refused.
void rateLimited(const Frontend& fe, TimePoint now, FrontendSnapshot& o, std::vector<Finding>& findings) {
  const std::uint64_t refused = fe.stats.dropped[static_cast<std::size_t>(Drop::RateLimited)];
  if (refused == 0) return;
  const std::int64_t now_ms = std::chrono::duration_cast<milliseconds>(now.time_since_epoch()).count();
  const std::int64_t now_unix_ms = unixMillisNow();
  std::int64_t latest_ms = INT64_MIN;
  for (const bool prefixes : {false, true}) {
    for (const LimitedSource& l : fe.limiter.topLimited(kTopLimited, prefixes)) {
      o.rate_limited.push_back({l.source, prefixes, l.limited, now_unix_ms - (now_ms - l.last_limited_ms)});
      latest_ms = std::max(latest_ms, l.last_limited_ms);
    }
  }
  if (o.rate_limited.empty() || now_ms - latest_ms > kLimitedMemory.count()) return;
  const RateLimitConfig& r = fe.config().rate;
  std::string who;
  for (const LimitedSnapshot& l : o.rate_limited) {
    if (!who.empty()) who += ", ";
    who += l.source + " (" + num(l.limited) + ")";
  }
  std::string limits;
  if (r.per_minute != 0) limits = rateText(r.per_minute) + " per address, burst " + num(r.burst);
  if (r.prefix_per_minute != 0) {
    if (!limits.empty()) limits += "; ";
    limits += rateText(r.prefix_per_minute) + " per /" + num(r.prefix_v4) + " and /" + num(r.prefix_v6) +
              ", burst " + num(r.prefix_burst);
  }
  findings.push_back({"warning", "frontend " + fe.name(),
                      num(refused) + " requests rate-limited (" + limits + "); most refused: " + who,
                      "a client far over the limit is flooding or misconfigured: look at it (udpx status --clients); if "
                      "it is legitimate (many clients behind one NAT address, a busy resolver), raise frontend." +
                          fe.name() + ".rate_limit and rate_burst (or rate_limit_prefix)"});
}

// What the TCP counters say is wrong: connections refused at the caps, servers that refuse TCP
// or cannot be reached over it.
void tcpFindings(const Frontend& fe, std::vector<Finding>& findings) {
  const FrontendConfig& c = fe.config();
  const TcpStats& t = fe.tcp;
  const std::string subject = "frontend " + fe.name() + " (TCP)";
  if (t.refused_upstream > 0) {
    findings.push_back({"error", subject,
                        num(t.refused_upstream) + " TCP connections refused: the upstream refuses TCP (every server "
                        "tried reset the connection)",
                        "let the server listen on TCP too (dnsmasq and unbound do by default; check its firewall), "
                        "or set frontend." + fe.name() + ".tcp = false"});
  }
  if (t.refused_connect > 0) {
    findings.push_back({"error", subject,
                        num(t.refused_connect) + " TCP connections failed: no server could be reached over TCP within " +
                            formatDuration(TcpRelay::kConnectTimeout),
                        "check that the servers accept TCP on their port from this host (firewall, routes)"});
  }
  if (t.refused_cap > 0) {
    findings.push_back({"warning", subject,
                        num(t.refused_cap) + " TCP connections refused: " + num(c.tcp_max_connections) +
                            " were open already (tcp_max_connections)",
                        "raise frontend." + fe.name() + ".tcp_max_connections, or shorten tcp_idle_timeout"});
  }
  if (t.refused_per_client > 0) {
    findings.push_back({"warning", subject,
                        num(t.refused_per_client) + " TCP connections refused: their client had " +
                            num(c.tcp_max_per_client) + " open already (tcp_max_per_client)",
                        "see which clients with udpx status --clients; raise frontend." + fe.name() +
                            ".tcp_max_per_client if they are legitimate"});
  }
  if (t.closed_idle > 0 && t.bytes_to_client == 0 && t.bytes_to_server > 0) {
    findings.push_back({"warning", subject,
                        num(t.closed_idle) + " TCP connections timed out idle and no server ever answered a byte: "
                        "the upstream accepts connections but does not answer (a TLS handshake that never completes, "
                        "or the wrong service on that port?)",
                        "check what listens on the servers' port over TCP"});
  }
}

FrontendSnapshot frontend(Frontend& fe, TimePoint now, std::vector<Finding>& findings) {
  const FrontendConfig& c = fe.config();
  const FrontendStats& s = fe.stats;
  const Lane lane = laneOf(fe);
  FrontendSnapshot o;
  o.name = fe.name();
  o.preset = presetDefaults(c.preset).name;
  o.backend = c.backend;
  for (const auto& l : fe.listeners()) o.listen.push_back(l->addr.toString());
  if (fe.protocol().tcp_only) {
    for (const SockAddr& a : c.listen) o.listen.push_back(a.toString());
  }
  o.counters = s;
  o.sessions_active = lane.open;
  o.sessions_max = c.max_sessions;
  o.upstream_sockets = fe.sharesUpstream() ? "shared" : "per-session";
  if (fe.proxy() != nullptr) o.in_flight = fe.proxy()->inflight().lanePending(fe.lane());
  o.table_full = s.sessions_evicted > 0 && now - fe.last_eviction < kEvictionMemory;
  if (o.table_full) {
    findings.push_back({"error", "frontend " + fe.name(),
                        "session table full: " + num(s.sessions_evicted) + " sessions evicted so far (max_sessions " +
                            num(c.max_sessions) + " here, " + num(lane.global_cap) +
                            " for the process), clients may lose replies",
                        "raise frontend." + fe.name() + ".max_sessions (and global.max_sessions), or shorten "
                        "session_timeout"});
  }
  o.tcp = c.tcp;
  if (c.tcp) {
    o.tcp_counters = fe.tcp;
    o.tcp_open = fe.tcp_open;
    o.tcp_max = c.tcp_max_connections;
    o.tcp_max_per_client = c.tcp_max_per_client;
    tcpFindings(fe, findings);
  }
  if (s.replied_truncated > 0 && !c.tcp) {
    findings.push_back({"warning", "frontend " + fe.name(),
                        num(s.replied_truncated) + " of " + num(s.replied) +
                            " replies were truncated (DNS TC bit): those clients retry over TCP, which udpx does not "
                            "relay here (tcp = false), so their TCP retry is refused",
                        "set frontend." + fe.name() + ".tcp = true, or have clients advertise a larger EDNS buffer "
                        "(dig +bufsize=4096)"});
  }
  rateLimited(fe, now, o, findings);
  const std::uint64_t no_backend = s.dropped[static_cast<std::size_t>(Drop::NoBackend)];
  if (no_backend > 0 && fe.backend()->servers().empty()) {
    findings.push_back({"error", "frontend " + fe.name(),
                        num(no_backend) + " requests dropped: backend " + fe.backend()->name() +
                            " has no server address",
                        "see the backend's problems below"});
  }
  return o;
}

NameSnapshot name(const Resolver& resolver, const Resolver::Name& n, const std::string& backend, TimePoint now,
                  std::vector<Finding>& findings) {
  NameSnapshot o;
  o.origin = n.origin;
  o.host = n.host;
  for (const SockAddr& a : n.addresses) o.addresses.push_back(a.ipString());
  o.from_hosts = n.from_hosts;
  o.resolved_unix_ms = n.resolved_unix_ms;
  o.ttl_s = n.ttl_s;
  o.error = n.error;
  o.resolver = resolver.source();
  if (!n.from_hosts && n.settled) {
    o.next_in_ms = std::max<std::int64_t>(0, std::chrono::duration_cast<milliseconds>(n.next - now).count());
  }
  if (!n.error.empty()) {
    const std::string hint = "check " + resolver.source() + " and that the name is spelt right";
    if (n.addresses.empty()) {
      findings.push_back({"error", "backend " + backend, n.error, hint});
    } else {
      findings.push_back({"warning", "backend " + backend,
                          n.error + "; using its last known addresses (" + std::to_string(n.addresses.size()) + ")",
                          hint});
    }
  }
  return o;
}

ServerSnapshot server(const Server& sv, const Backend& be, std::int64_t started_unix_ms, TimePoint now,
                      std::vector<Finding>& findings) {
  const std::string& backend = be.name();
  ServerSnapshot o;
  o.label = sv.label();
  o.origin = sv.origin();
  o.state = sv.stateName();
  o.down = !sv.eligible();
  o.up = sv.state.up();
  o.active_sessions = sv.active_sessions;
  o.in_flight = sv.in_flight;
  o.pool_sockets = sv.pool_sockets;
  o.counters = sv.stats;
  o.health = sv.health;
  if (o.health.since_unix_ms == 0) o.health.since_unix_ms = started_unix_ms;
  o.consecutive_failures = sv.state.failures();
  o.last_probe = sv.health.probes == 0 ? "none" : sv.state.failures() == 0 ? "ok" : "failed";
  if (sv.prober) o.probe_interval_ms = sv.prober->interval().count();
  if (sv.tcp.checked) {
    o.tcp = sv.tcp.up ? "up" : "down";
    o.tcp_reason = sv.tcp.reason;
  }
  if (sv.draining) return o;
  const ServerHealth& h = sv.health;
  const std::string subject = "backend " + backend + ", server " + sv.label();
  if (sv.tcp.checked && !sv.tcp.reason.empty()) {
    findings.push_back({sv.tcp.up ? "warning" : "error", subject + " (TCP)",
                        sv.label() + ": " + sv.tcp.reason + (sv.tcp.up ? "" : "; TCP connections avoid it"),
                        "let the server accept TCP on its port from this host (dnsmasq, unbound and bind do by "
                        "default; check its firewall), or set tcp = false on the frontends that use it"});
  }
  if (!sv.state.up() && !sv.pending) {
    findings.push_back({"error", subject, h.reason.empty() ? "down" : h.reason, h.hint});
  } else if ((sv.state.up() || (sv.pending && sv.state.failures() > 0)) && !h.reason.empty()) {
    findings.push_back({"warning", subject, h.reason, h.hint});
  } else if (be.probesActive() && sv.state.up() && sv.state.failures() == 0 && h.unanswered > 0 &&
             now - sv.last_unanswered < kUnansweredMemory) {
    // Passive evidence does not take a server with good probes down (any client could do that
    // with junk), but what it saw is worth saying.
    findings.push_back({"warning", subject,
                        num(h.unanswered) + (h.unanswered == 1 ? " request" : " requests") +
                            " from clients went unanswered although probes succeed: the server ignores them (its "
                            "rate limit? malformed requests?)",
                        "udpx keeps using it; if real clients lose answers, check the server's rate limiting "
                        "and what the clients send"});
  }
  return o;
}

BackendSnapshot backend(const Backend& be, const SnapshotSources& from, TimePoint now,
                        std::vector<Finding>& findings) {
  const BackendConfig& bc = be.config();
  BackendSnapshot o;
  o.name = be.name();
  o.balance = std::string(balanceName(bc.balance));
  o.on_all_down = std::string(onAllDownName(bc.on_all_down));
  o.all_down = be.allDown();
  for (const Server& sv : be.servers()) {
    if (sv.draining) continue;
    ++o.servers_in_pool;
    o.servers_up += sv.state.up() ? 1 : 0;
  }
  o.state = o.servers_in_pool == 0               ? "empty"
            : o.servers_up == o.servers_in_pool ? "up"
            : o.servers_up == 0                 ? "down"
                                                : "degraded";
  const HealthConfig& h = bc.health;
  o.health = {std::string(probeTypeName(h.probe.type)), be.probesActive(), h.interval.count(), h.timeout.count(),
              h.rise, h.fall};
  if (from.resolver != nullptr) {
    for (const auto& n : from.resolver->names()) {
      if (n->backend == &be) o.names.push_back(name(*from.resolver, *n, be.name(), now, findings));
    }
  }
  for (const Server& sv : be.servers()) o.servers.push_back(server(sv, be, from.started_unix_ms, now, findings));
  if (be.servers().empty()) {
    findings.push_back({"error", "backend " + be.name(), "no server address: requests through it are dropped",
                        "check that the servers' host names resolve"});
  } else if (be.allDown()) {
    const std::string since = formatDuration(std::chrono::duration_cast<milliseconds>(now - be.allDownSince()));
    const std::string all =
        o.servers_in_pool == 1 ? "its only server is down" : "all " + num(o.servers_in_pool) + " servers are down";
    findings.push_back(
        {"error", "backend " + be.name(),
         bc.on_all_down == OnAllDown::Drop
             ? all + " (for " + since + "): new sessions are dropped (on_all_down = \"drop\")"
             : all + " (for " + since + "): forwarding to " + (o.servers_in_pool == 1 ? "it" : "all of them") + " anyway (fail open)",
         "fix the servers listed here; each has its own reason"});
  }
  return o;
}

// A refused reload: the file on disk is not what runs. Named until a reload is applied.
void reloadFinding(const ReloadState& r, std::vector<Finding>& findings) {
  if (r.failed_unix_ms == 0) return;
  const std::time_t t = static_cast<std::time_t>(r.failed_unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
  std::string problem = "the last reload of " + r.failed_file + " failed at " + when + ": ";
  problem += r.failed_errors.empty() ? "(no error recorded)" : r.failed_errors.front();
  if (r.failed_errors.size() > 1) problem += " (and " + std::to_string(r.failed_errors.size() - 1) + " more)";
  problem += "; the previous configuration keeps running";
  findings.push_back({"error", "configuration", std::move(problem),
                      "run `udpx check -c " + r.failed_file + "` for every error, fix them and reload again"});
}

}  // namespace

bool Snapshot::ok() const noexcept {
  return std::none_of(findings.begin(), findings.end(), [](const Finding& f) { return f.severity == "error"; });
}

Snapshot takeSnapshot(const SnapshotSources& from, TimePoint now) {
  Snapshot s;
  const std::int64_t now_unix_ms = unixMillisNow();
  for (const auto& fe : from.frontends) {
    s.frontends.push_back(frontend(*fe, now, s.findings));
    clients(*fe, now, now_unix_ms, from.with_clients, s.frontends.back());
  }
  for (const auto& be : from.backends) s.backends.push_back(backend(*be, from, now, s.findings));
  if (from.standing != nullptr) s.findings.insert(s.findings.end(), from.standing->begin(), from.standing->end());
  s.reloads = from.reloads;
  if (from.reload != nullptr) {
    s.reload = *from.reload;
    reloadFinding(s.reload, s.findings);
  }
  s.udpx = {UDPX_VERSION, getpid(), from.config_file, from.started_unix_ms, now_unix_ms};
  if (from.process != nullptr) s.process = from.process->read();
  return s;
}

}  // namespace udpx

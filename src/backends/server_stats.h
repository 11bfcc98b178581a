// What one upstream server counts and what health checking knows about it: plain members (one
// thread), each counter declared once with its names in the status JSON and /metrics.
#pragma once

#include <cstdint>
#include <iterator>
#include <string>

#include "base/counter.h"

namespace udpx {

struct ServerStats {
  std::uint64_t sessions = 0;   // sessions assigned to this server
  std::uint64_t forwarded = 0;  // requests sent to it
  std::uint64_t replied = 0;    // valid replies received from it
  std::uint64_t refused = 0;    // ICMP port unreachable seen (ECONNREFUSED)

  bool operator==(const ServerStats&) const = default;
};

// In the server's JSON object; in /metrics after the health counters (labels backend, server).
inline constexpr Counter<ServerStats> kServerCounters[] = {
    {&ServerStats::sessions, "sessions", "udpx_server_sessions_total", "Sessions assigned to the server."},
    {&ServerStats::forwarded, "forwarded", "udpx_server_forwarded_packets_total", "Requests sent to the server."},
    {&ServerStats::replied, "replied", "udpx_server_replied_packets_total", "Valid replies received from the server."},
    {&ServerStats::refused, "refused", "udpx_server_refused_total",
     "Datagrams to the server answered with ICMP port unreachable (connection refused)."},
};
static_assert(sizeof(ServerStats) == sizeof(std::uint64_t) * std::size(kServerCounters),
              "every member of ServerStats is declared in kServerCounters");

// The counters of health checking, in a struct of their own so that the static_assert below can
// tell that each is declared; ServerHealth holds them as its base (server.health.probes).
struct ServerHealthCounters {
  std::uint64_t probes = 0;          // active probes sent
  std::uint64_t probe_failures = 0;  // probes that timed out or got a bad/unhealthy reply
  std::uint64_t unanswered = 0;      // requests forwarded on real traffic that got no reply

  bool operator==(const ServerHealthCounters&) const = default;
};

// In the server's "health" object; in /metrics after the server gauges.
inline constexpr Counter<ServerHealthCounters> kServerHealthCounters[] = {
    {&ServerHealthCounters::probes, "health.probes", "udpx_server_probes_total", "Health probes sent."},
    {&ServerHealthCounters::probe_failures, "health.probe_failures", "udpx_server_probe_failures_total",
     "Health probes that timed out or got a bad or unhealthy reply."},
    {&ServerHealthCounters::unanswered, "health.unanswered", "udpx_server_unanswered_requests_total",
     "Requests forwarded on client traffic that got no reply."},
};
static_assert(sizeof(ServerHealthCounters) == sizeof(std::uint64_t) * std::size(kServerHealthCounters),
              "every member of ServerHealthCounters is declared in kServerHealthCounters");

// What health checking knows about one server (filled by active probes and passive signals).
// Whether it is up is HealthState's to say (Server::state).
struct ServerHealth : ServerHealthCounters {
  std::int64_t since_unix_ms = 0;  // wall-clock time the state last changed up or down (0: since start)
  double last_rtt_seconds = -1;    // round trip of the last good probe reply; < 0: none yet
  std::string reason;              // why it is down, or the last problem seen ("" when fine)
  std::string hint;                // how to fix it ("" when none)

  bool operator==(const ServerHealth&) const = default;
};

}  // namespace udpx

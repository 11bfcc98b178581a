// What one upstream server counts and what health checking knows about it: plain members the
// data path, the probes and the passive signals write (one thread), read by balancing,
// `udpx status` and /metrics.
#pragma once

#include <cstdint>
#include <string>

namespace udpx {

struct ServerStats {
  std::uint64_t sessions = 0;   // sessions assigned to this server
  std::uint64_t forwarded = 0;  // requests sent to it
  std::uint64_t replied = 0;    // valid replies received from it
  std::uint64_t refused = 0;    // ICMP port unreachable seen (ECONNREFUSED)
};

// What health checking knows about one server (filled by active probes and passive signals).
// Whether it is up is HealthState's to say (Server::state).
struct ServerHealth {
  std::int64_t since_unix_ms = 0;    // wall-clock time the state last changed up or down (0: since start)
  std::uint64_t probes = 0;          // active probes sent
  std::uint64_t probe_failures = 0;  // probes that timed out or got a bad/unhealthy reply
  double last_rtt_seconds = -1;      // round trip of the last good probe reply; < 0: none yet
  std::uint64_t unanswered = 0;      // requests forwarded on real traffic that got no reply
  std::string reason;                // why it is down, or the last problem seen ("" when fine)
  std::string hint;                  // how to fix it ("" when none)
};

}  // namespace udpx

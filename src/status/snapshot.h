// Snapshot: everything `udpx status`, /status and /metrics show (counters, states, problems with
// hints), taken by takeSnapshot, the one place that reads the runtime's objects for them.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/server_stats.h"
#include "base/clock.h"
#include "base/counter.h"
#include "dataplane/stats.h"
#include "dataplane/tcp_stats.h"
#include "status/process_stats.h"

namespace udpx {

class Backend;
class Frontend;
class Resolver;

// Configuration reloads (SIGHUP) by outcome, counted by the runtime.
struct ReloadStats {
  std::uint64_t succeeded = 0;  // the new configuration was validated and applied
  std::uint64_t failed = 0;     // it was refused (invalid, or could not be applied); the old one runs on

  bool operator==(const ReloadStats&) const = default;
};

// In the document's "reloads" object; in /metrics after the servers.
inline constexpr std::string_view kReloadsHelp =
    "Configuration reloads (SIGHUP), by result: success (applied) or failure (refused; the previous "
    "configuration stays).";
inline constexpr Counter<ReloadStats> kReloadCounters[] = {
    {&ReloadStats::succeeded, "reloads.succeeded", "udpx_config_reloads_total", kReloadsHelp, "result", "success"},
    {&ReloadStats::failed, "reloads.failed", "udpx_config_reloads_total", kReloadsHelp, "result", "failure"},
};
static_assert(sizeof(ReloadStats) == sizeof(std::uint64_t) * std::size(kReloadCounters),
              "every member of ReloadStats is declared in kReloadCounters");

// Beside the counters: the running configuration and the last reload's outcome, for the gauges
// (udpx_config_hash, udpx_config_last_reload_*) and the finding after a refused reload.
struct ReloadState {
  std::uint64_t config_hash = 0;           // hashConfigText of the running configuration
  std::int64_t last_success_unix_ms = 0;   // the start, or the last reload that was applied
  // Set while the last reload was refused; cleared by the next one that is applied.
  std::int64_t failed_unix_ms = 0;
  std::string failed_file;
  std::vector<std::string> failed_errors;  // "FILE:LINE:COL: ..."

  bool operator==(const ReloadState&) const = default;
};

// Clients seen within this long count as "clients" in the service summary.
inline constexpr std::chrono::minutes kRecentClientWindow{10};
// How many clients a frontend keeps (ClientTable::kCapacity, checked in snapshot.cpp).
inline constexpr std::size_t kRecentClientsKept = 1000;

// One of a frontend's most recent clients (dataplane/client_table.h).
struct ClientSnapshot {
  std::string address;  // "192.168.1.20:40123"
  std::uint64_t requests = 0;
  std::uint64_t answers = 0;
  std::uint64_t unanswered = 0;
  std::array<std::uint64_t, kDropCount> dropped{};
  std::int64_t last_seen_unix_ms = 0;

  bool operator==(const ClientSnapshot&) const = default;
};

// One of a frontend's most rate-limited sources (dataplane/rate_limit.h): an address, or a
// prefix ("192.0.2.0/24").
struct LimitedSnapshot {
  std::string source;
  bool prefix = false;
  std::uint64_t limited = 0;  // requests refused since its bucket entered the table
  std::int64_t last_unix_ms = 0;

  bool operator==(const LimitedSnapshot&) const = default;
};
// How many addresses (and as many prefixes) a frontend names as the most rate-limited.
inline constexpr std::size_t kTopLimited = 5;

struct FrontendSnapshot {
  std::string name;
  std::string preset;
  std::string backend;
  std::vector<std::string> listen;
  FrontendStats counters;
  std::uint64_t sessions_active = 0;  // open now
  std::uint64_t sessions_max = 0;     // the frontend's max_sessions
  std::string upstream_sockets;       // "shared" or "per-session" (upstream_sockets)
  std::uint64_t in_flight = 0;        // shared: requests awaiting a reply
  bool table_full = false;            // evicted within the last minute
  std::uint64_t clients_recent = 0;   // distinct clients seen within kRecentClientWindow
  bool clients_table_full = false;    // all of the recent-clients table is that recent: maybe more
  std::vector<ClientSnapshot> clients;  // most recent first; only with SnapshotSources::with_clients
  // The most rate-limited addresses, then prefixes (at most kTopLimited each, most refused first).
  std::vector<LimitedSnapshot> rate_limited;
  // Its TCP side (frontend.NAME.tcp): absent from the JSON and /metrics when off.
  bool tcp = false;
  TcpStats tcp_counters;
  std::uint64_t tcp_open = 0;            // connections open now
  std::uint64_t tcp_max = 0;             // tcp_max_connections
  std::uint64_t tcp_max_per_client = 0;  // tcp_max_per_client

  bool operator==(const FrontendSnapshot&) const = default;
};

struct ServerSnapshot {
  std::string label;   // "127.0.0.1:123"
  std::string origin;  // as written in the config
  std::string state;   // Server::stateName(): up, down, pending, draining
  bool down = false;   // not eligible for new sessions
  bool up = true;      // health checking says up (HealthState::up())
  std::uint64_t active_sessions = 0;
  std::uint64_t in_flight = 0;     // shared upstream sockets: requests awaiting its reply
  std::uint64_t pool_sockets = 0;  // shared upstream sockets open to it
  ServerStats counters;
  ServerHealth health;  // since_unix_ms resolved: the start of udpx when it never changed
  std::uint64_t consecutive_failures = 0;
  std::string last_probe;                        // none, ok, failed
  std::optional<std::int64_t> probe_interval_ms;  // when it has a prober
  // Over TCP (Server::tcp): "" not checked, "up", "down"; the reason of the last failure.
  std::string tcp;
  std::string tcp_reason;

  bool operator==(const ServerSnapshot&) const = default;
};

// One host name of a backend and what it resolved to.
struct NameSnapshot {
  std::string origin;  // the server entry as written ("pool.example.org:123")
  std::string host;
  std::vector<std::string> addresses;
  bool from_hosts = false;
  std::int64_t resolved_unix_ms = 0;
  std::uint64_t ttl_s = 0;
  std::string error;
  std::string resolver;                    // where answers come from
  std::optional<std::int64_t> next_in_ms;  // next resolution, unless fixed or not yet settled

  bool operator==(const NameSnapshot&) const = default;
};

struct BackendSnapshot {
  std::string name;
  std::string balance;      // first, round-robin, hash
  std::string on_all_down;  // drop, forward
  bool all_down = false;
  std::string state;  // empty, up, degraded, down
  std::uint64_t servers_up = 0;
  std::uint64_t servers_in_pool = 0;  // not draining
  struct Health {
    std::string type;  // the probe type
    bool active = false;
    std::int64_t interval_ms = 0;
    std::int64_t timeout_ms = 0;
    std::uint64_t rise = 0;
    std::uint64_t fall = 0;
    bool operator==(const Health&) const = default;
  } health;
  std::vector<NameSnapshot> names;
  std::vector<ServerSnapshot> servers;

  bool operator==(const BackendSnapshot&) const = default;
};

// A problem, said so that the reader knows what to do.
struct Finding {
  std::string severity;  // "error": something is down or wrong (exit 1); "warning": worth a look
  std::string subject;   // "backend ntp_up, server 192.168.0.1:123"
  std::string problem;   // a plain sentence
  std::string hint;      // how to fix it

  bool operator==(const Finding&) const = default;
};

struct Snapshot {
  std::vector<FrontendSnapshot> frontends;
  std::vector<BackendSnapshot> backends;
  std::vector<Finding> findings;
  ReloadStats reloads;
  ReloadState reload;  // failed_errors is not in the JSON: the finding carries the first ones
  // Which udpx this is (the JSON's "udpx" object).
  struct Instance {
    std::string version;
    std::int64_t pid = 0;
    std::string config;  // the configuration file
    std::int64_t started_unix_ms = 0;
    std::int64_t now_unix_ms = 0;
    bool operator==(const Instance&) const = default;
  } udpx;
  // The process_* values; absent unless a ProcessStats source was given (the JSON leaves them out).
  std::optional<ProcessStats::Sample> process;

  // No finding is an error.
  bool ok() const noexcept;
  bool operator==(const Snapshot&) const = default;
};

// What a snapshot is read from: the runtime's objects, by reference (they must outlive it).
struct SnapshotSources {
  const std::vector<std::unique_ptr<Frontend>>& frontends;
  const std::vector<std::unique_ptr<Backend>>& backends;
  const ReloadStats& reloads;
  const Resolver* resolver = nullptr;      // null: no host names
  const ProcessStats* process = nullptr;   // null: no process_* values
  std::string config_file{};
  std::int64_t started_unix_ms = 0;
  const ReloadState* reload = nullptr;     // null: nothing known about reloads
  const std::vector<Finding>* standing = nullptr;  // problems that last (found at start), or null
  bool with_clients = false;  // each frontend's recent clients, one by one (status socket, /status)
};

// Reads every counter and state as of `now` (which decides what is recent: a full session table,
// the next resolution), and judges them into findings. Reads the wall clock for udpx.now_unix_ms.
Snapshot takeSnapshot(const SnapshotSources& from, TimePoint now);

}  // namespace udpx

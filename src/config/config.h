// The configuration room: the schema (the structs below, which say what is fixed for the life of
// the process and what a reload may change), the loader that fills them from TOML (config.cpp reads
// the text, loader.cpp and the *_section.cpp files check each section, cross_checks.cpp what spans
// sections), and durations (duration.h). A file is validated whole, every problem reported at once
// with FILE:LINE:COL, before anything is built from it: the runtime never re-validates.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/enum_names.h"
#include "base/log.h"
#include "net/address.h"
#include "net/listen_socket.h"
#include "protocols/probe.h"
#include "protocols/protocol.h"

namespace udpx {

// round-robin: each new session (or shared request) to the next server; first: the first one
// that is up; hash: rendezvous hashing on the client's address over the servers that are up,
// so a client keeps its server and a server going down moves only its own clients.
enum class Balance : std::uint8_t { RoundRobin, First, Hash };
inline constexpr EnumName<Balance> kBalanceNames[] = {
    {Balance::RoundRobin, "round-robin"}, {Balance::First, "first"}, {Balance::Hash, "hash"}};
constexpr std::string_view balanceName(Balance b) noexcept { return enumToName(kBalanceNames, b); }
constexpr std::optional<Balance> parseBalance(std::string_view name) noexcept {
  return enumFromName(kBalanceNames, name);
}

// What a backend does with new sessions when every server is down.
enum class OnAllDown : std::uint8_t { Forward, Drop };
inline constexpr EnumName<OnAllDown> kOnAllDownNames[] = {{OnAllDown::Forward, "forward"}, {OnAllDown::Drop, "drop"}};
constexpr std::string_view onAllDownName(OnAllDown o) noexcept { return enumToName(kOnAllDownNames, o); }
constexpr std::optional<OnAllDown> parseOnAllDown(std::string_view name) noexcept {
  return enumFromName(kOnAllDownNames, name);
}

// How a frontend's requests reach its servers: per-session (a connected socket per client
// session) or shared (a small pool of sockets per server, requests told apart by their token:
// ntp, dns with responses = 1).
enum class UpstreamSocketsMode : std::uint8_t { PerSession, Shared };
inline constexpr EnumName<UpstreamSocketsMode> kUpstreamSocketsNames[] = {
    {UpstreamSocketsMode::Shared, "shared"}, {UpstreamSocketsMode::PerSession, "per-session"}};
constexpr std::string_view upstreamSocketsName(UpstreamSocketsMode m) noexcept {
  return enumToName(kUpstreamSocketsNames, m);
}
// upstream_pool_sockets: the sockets of one shared pool (per frontend and server). At most 16:
// 16 sockets hold 16 x 65,536 DNS IDs, as many as the largest max_sessions (1,048,576) can
// have in flight, so more would add descriptors and no room; a request whose token is busy
// tries every socket of its pool, and 16 keeps that bounded.
inline constexpr std::uint32_t kDefaultUpstreamPoolSockets = 4;
inline constexpr std::uint32_t kMaxUpstreamPoolSockets = 16;

// The name a config built from the command line (the one-line --preset mode) goes by where a
// file name would stand: in messages, and to tell that mode apart (the status socket's name).
inline constexpr const char* kCommandLineConfigName = "<command line>";

// Where something was written: file:line:col (1-based; 0 when unknown).
struct SourcePos {
  std::uint32_t line = 0;
  std::uint32_t col = 0;
};

// The part of [global] fixed for the life of the process: what is used before or while the
// process gives up its privileges and closes its sandbox. A reload must refuse a file that
// changes any of it ("needs a restart") rather than apply the rest of it.
struct FixedConfig {
  // Privilege separation (src/privsep/): who the binder and the worker run as once the
  // listening sockets are open, and the worker's optional chroot. Empty: the defaults
  // (user "udpx" if it exists, else "nobody"; the user's primary group; no chroot).
  // Whether the user and group exist is checked at startup, not by the loader.
  // Fixed: the identity is resolved (from the account database, which the worker never reads)
  // and dropped once, and a chroot can only be entered, never left or moved.
  std::string user, group, chroot;
  SourcePos user_pos, group_pos, chroot_pos;
};

// The part of [global] a reload may change: only the running proxy reads it; nothing set up
// before the drop depends on it.
struct GlobalConfig {
  // Reloadable: the log functions read the level at every line.
  LogLevel log_level = LogLevel::Info;
  // Whole-process session cap. Reloadable: only the session table reads it, when a session
  // opens; a lower cap can be met by ending the least recently used sessions.
  std::uint32_t max_sessions = 65536;
  // DNS servers for host names in backends (IP:PORT); empty: those of /etc/resolv.conf.
  // Reloadable: the resolver's sockets to them are made on the loop, which the sandbox allows.
  // NOTE: the sandboxed worker opens no file, so /etc/resolv.conf is read at start-up only
  // (always, and kept): a reload to an empty list uses what it said then.
  std::vector<SockAddr> resolvers;
  // Where the HTTP endpoint (/metrics, /status) listens (TCP); unset: no endpoint.
  // Reloadable: a reload binds the new address on the loop (socket, bind, listen: allowed by
  // the sandbox) before anything else changes, and closes the old one. Limits: the worker has no
  // privilege by then, so a new port below 1024 is refused; and the process_* metrics come only
  // with an endpoint set at start-up (their /proc/self files are opened before the sandbox).
  std::optional<SockAddr> metrics;
  SourcePos metrics_pos;
  // The status endpoint `udpx status` and `udpx reload` use: "" = the default (the runtime path
  // under /run/udpx for a start as root, else the abstract unix socket derived from the config
  // file's path), "@NAME" another abstract socket, "/PATH" a socket file (mode 0666), "off" none.
  // Reloadable to anything: a new socket file is made by the binder (the worker may be chrooted
  // and cannot remove a stale file) or, in the one process, bound on the loop (an existing file
  // refuses the move). The file then says where the process listens, which is how
  // `udpx status -c FILE` finds it.
  std::string status;
  SourcePos status_pos;
};

// One upstream server as written: a literal address or a host name, and its port.
struct ServerConfig {
  std::string text;        // as written, for messages
  std::string host;        // literal IP or host name (no brackets)
  std::uint16_t port = 0;  // explicit port, or the preset's default filled in by the loader
  std::optional<SockAddr> literal;  // set when host is a literal IP address
  SourcePos pos;
};

// [backend.NAME.health]: active probes and the rise/fall thresholds. The loader fills every
// field: the probe type from the frontends' presets when not given, the rest from the
// probe type's defaults (protocols/probe.h).
struct HealthConfig {
  ProbeSpec probe;
  std::chrono::milliseconds interval{10000};
  std::chrono::milliseconds timeout{1000};
  std::uint32_t rise = 2;
  std::uint32_t fall = 3;
};

// [backend.NAME]. Reloadable, every field: a backend and its probes are built on the loop from
// its config, and its upstream sockets (one per session, one per probe) are opened on the loop
// already, inside the sandbox.
struct BackendConfig {
  std::string name;
  std::vector<ServerConfig> servers;
  Balance balance = Balance::RoundRobin;  // default: hash when every user is an ntp frontend
  // A server whose socket reports "connection refused" (ICMP port unreachable) is down at
  // once; without active probes it is tried again after this long (like nginx's fail_timeout).
  std::chrono::milliseconds fail_timeout{10000};
  HealthConfig health;
  OnAllDown on_all_down = OnAllDown::Forward;
  // Host names are re-resolved when their TTL expires, within these bounds.
  std::chrono::milliseconds resolve_min{10000};
  std::chrono::milliseconds resolve_max{3600000};
  SourcePos pos;
};

// A frontend's rate limits (dataplane/rate_limit.h): a token bucket per client address and one
// per client prefix; rates per minute ("20/s" is 1200), 0: that bucket is off. The loader fills
// every field, from the preset's defaults (protocols/protocol.h RateDefaults) where not written.
// Reloadable: the buckets stay, only their rates change.
struct RateLimitConfig {
  std::uint64_t per_minute = 0;  // rate_limit, per client address
  std::uint64_t burst = 0;       // rate_burst: tokens a bucket holds when full
  std::uint64_t prefix_per_minute = 0;  // rate_limit_prefix, per client prefix
  std::uint64_t prefix_burst = 0;       // rate_burst_prefix
  std::uint8_t prefix_v4 = 24;          // rate_prefix_v4: the prefix length for IPv4 clients
  std::uint8_t prefix_v6 = 56;          // rate_prefix_v6
  bool kod = false;  // ntp only: answer a refused request with a RATE kiss-o'-death
  bool operator==(const RateLimitConfig&) const = default;
};

// [frontend.NAME]. Reloadable, every field, listen included: a frontend is built on the loop
// from its config, and a new listen address only needs a new socket, which the binder can bind
// for the worker (a port below 1024) as it binds the first ones.
struct FrontendConfig {
  std::string name;
  std::vector<SockAddr> listen;
  Preset preset = Preset::Raw;
  std::string backend;
  std::vector<Cidr> allow;  // never empty after loading (default: defaultAllowList())
  std::chrono::milliseconds session_timeout{60000};
  std::uint32_t max_sessions = 4096;
  std::uint32_t max_sessions_per_client = 0;  // sessions one client host may hold; 0: no cap
  std::uint32_t responses = kUnlimitedResponses;
  std::uint32_t max_datagram = 65507;
  // Default: shared where the preset has a reply token and responses = 1 (ntp, dns).
  UpstreamSocketsMode upstream_sockets = UpstreamSocketsMode::PerSession;
  // Sockets per server with upstream_sockets = "shared", 1..kMaxUpstreamPoolSockets. A reload
  // keeps a pool's open sockets up to the new count; the others retire (dataplane/shared_upstream.h).
  std::uint32_t upstream_pool_sockets = kDefaultUpstreamPoolSockets;
  RateLimitConfig rate;
  // TCP on the same listen addresses (dataplane/tcp_relay.h): the dns preset's default (a client
  // retries a truncated answer over TCP), off for the others. Each connection is relayed to the
  // backend's servers on their (same) port.
  bool tcp = false;
  std::uint32_t tcp_max_connections = 512;  // open at once, for the whole frontend
  std::uint32_t tcp_max_per_client = 16;    // open at once, per client IP address
  std::chrono::milliseconds tcp_idle_timeout{10000};  // no byte either way for this long: closed
  SourcePos pos;
};

// The sockets a frontend listens on: UDP on every listen address (none for a TCP-only preset:
// nts-ke), and TCP on them too when `tcp` is set. In this order (UDP first), wherever sockets are opened, handed over and matched.
std::vector<ListenEndpoint> listenEndpoints(const FrontendConfig& f);

// Everything a reload may change, and all of it: the frontends, the backends with their servers
// and health checks, and the reloadable [global] keys, from which the runtime builds its
// frontends and backends. A reload replaces this part and keeps the FixedConfig it started with.
struct ReloadableConfig {
  GlobalConfig global;
  std::vector<FrontendConfig> frontends;  // in file order
  std::vector<BackendConfig> backends;    // in file order

  const BackendConfig* findBackend(const std::string& name) const noexcept;
};

// A whole validated file: what a reload may change (the base), and what it may not.
struct Config : ReloadableConfig {
  std::string file;  // path it was loaded from, for messages; fixed: a reload reads the same path
  FixedConfig fixed;
  std::uint64_t text_hash = 0;  // hashConfigText of the text it was loaded from (udpx_config_hash)
};

// One problem found while loading: "FILE:LINE:COL: key.path: message (hint)".
struct ConfigError {
  std::string file;
  SourcePos pos;
  std::string path;     // "frontend.lan_ntp.listen[1]"
  std::string message;  // what is wrong
  std::string hint;     // how to fix it (may be empty)

  std::string format() const;
};

struct LoadResult {
  std::optional<Config> config;           // set only when errors is empty
  std::string text;                       // the text it was loaded from (the binder hands it to the worker)
  std::vector<ConfigError> errors;        // every error found, in file order
  std::vector<ConfigError> warnings;      // suspicious but valid (an unused backend)
};

// A hash of a configuration's text (FNV-1a, 53 bits: exact as a metric's value), to tell which
// file a running udpx has loaded.
std::uint64_t hashConfigText(std::string_view text) noexcept;

// The largest configuration udpx reads (bytes). It is also what the binder can hand the worker
// in one message (privsep/fdpass.h), so a file `udpx check` accepts is one udpx can start with.
inline constexpr std::size_t kMaxConfigBytes = 128 * 1024;

// Loads and validates a TOML config file. Never throws; all problems land in `errors`. Anything
// but a regular file (a device, a FIFO, a directory) and files over kMaxConfigBytes are refused
// before a byte is read.
LoadResult loadConfigFile(const std::string& path);
// Same, from text; `name` stands for the file name in messages.
LoadResult loadConfigString(std::string_view text, const std::string& name);

}  // namespace udpx

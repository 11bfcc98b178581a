// The validated configuration: plain structs built by the loader, consumed by the runtime.
// Everything here has been checked; the runtime never re-validates.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/enum_names.h"
#include "base/log.h"
#include "net/address.h"
#include "protocols/probe.h"
#include "protocols/protocol.h"

namespace udpx {

enum class Balance : std::uint8_t { RoundRobin, First };
inline constexpr EnumName<Balance> kBalanceNames[] = {{Balance::RoundRobin, "round-robin"}, {Balance::First, "first"}};
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

// The name a config built from the command line (the one-line --preset mode) goes by where a
// file name would stand: in messages, and to tell that mode apart (the status socket's name).
inline constexpr const char* kCommandLineConfigName = "<command line>";

// Where something was written: file:line:col (1-based; 0 when unknown).
struct SourcePos {
  std::uint32_t line = 0;
  std::uint32_t col = 0;
};

struct GlobalConfig {
  LogLevel log_level = LogLevel::Info;
  std::uint32_t max_sessions = 65536;  // whole-process cap
  // Where the HTTP endpoint (/metrics, /status) listens (TCP); unset: no endpoint.
  std::optional<SockAddr> metrics;
  // DNS servers for host names in backends (IP:PORT); empty: those of /etc/resolv.conf.
  std::vector<SockAddr> resolvers;
  // The status endpoint `udpx status` reads: "" = the default abstract unix socket derived
  // from the config file's path, "@NAME" another abstract socket, "/PATH" a socket file
  // (mode 0666), "off" none.
  std::string status;
  // Privilege separation (src/privsep/): who the binder and the worker run as once the
  // listening sockets are open, and the worker's optional chroot. Empty: the defaults
  // (user "udpx" if it exists, else "nobody"; the user's primary group; no chroot).
  // Whether the user and group exist is checked at startup, not by the loader.
  std::string user, group, chroot;
  SourcePos user_pos, group_pos, chroot_pos;
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

struct BackendConfig {
  std::string name;
  std::vector<ServerConfig> servers;
  Balance balance = Balance::RoundRobin;
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

struct FrontendConfig {
  std::string name;
  std::vector<SockAddr> listen;
  Preset preset = Preset::Raw;
  std::string backend;
  std::vector<Cidr> allow;  // never empty after loading (default: defaultAllowList())
  std::chrono::milliseconds session_timeout{60000};
  std::uint32_t max_sessions = 4096;
  std::uint32_t responses = kUnlimitedResponses;
  std::uint32_t max_datagram = 65507;
  SourcePos pos;
};

struct Config {
  std::string file;  // path it was loaded from, for messages
  GlobalConfig global;
  std::vector<FrontendConfig> frontends;  // in file order
  std::vector<BackendConfig> backends;    // in file order

  const BackendConfig* findBackend(const std::string& name) const noexcept;
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

// Loads and validates a TOML config file. Never throws; all problems land in `errors`.
LoadResult loadConfigFile(const std::string& path);
// Same, from text; `name` stands for the file name in messages.
LoadResult loadConfigString(std::string_view text, const std::string& name);

}  // namespace udpx

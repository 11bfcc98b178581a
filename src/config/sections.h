// The loader's parts, one per section of the file, and the drafts they hand each other: a
// section is read on its own first (global_section.cpp, backend_section.cpp with its servers,
// health_section.cpp, frontend_section.cpp), then cross_checks.cpp completes what depends on
// other sections (a backend's default port and probe come from the frontends that use it).
// loader.cpp walks the file's top level and calls them in that order.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/config_node.h"
#include "config/reader.h"

namespace udpx {

inline constexpr std::int64_t kMaxSessionsLimit = 1'048'576;

inline constexpr std::string_view kTopLevelTables[] = {"global", "frontend", "backend"};
inline constexpr std::string_view kGlobalKeys[] = {"log_level", "max_sessions", "metrics", "resolvers",
                                                   "status",    "user",         "group",   "chroot"};
inline constexpr std::string_view kFrontendKeys[] = {
    "listen",       "preset",     "backend",           "allow",          "session_timeout",
    "max_sessions", "responses",  "max_datagram",      "upstream_sockets", "upstream_pool_sockets",
    "rate_limit",   "rate_burst", "rate_limit_prefix", "rate_burst_prefix", "rate_prefix_v4", "rate_prefix_v6", "kod",
    "max_sessions_per_client", "tcp", "tcp_max_connections", "tcp_max_per_client", "tcp_idle_timeout"};
inline constexpr std::string_view kBackendKeys[] = {"servers",     "balance",     "fail_timeout", "health",
                                                    "on_all_down", "resolve_min", "resolve_max"};

// One [frontend.X] or [backend.X] entry, before it is sorted into file order.
struct NamedTable {
  std::string name;
  const ConfigNode* table;
  SourcePos pos;
};

struct ServerDraft {
  ServerConfig config;
  std::string path;  // "backend.up.servers[1]", for messages found after the first pass
  bool port_given = false;
};

// What [backend.NAME.health] said explicitly; the rest is filled in once the frontends using
// the backend (and so the probe type) are known.
struct HealthDraft {
  std::optional<ProbeType> type;
  std::optional<std::chrono::milliseconds> interval, timeout;
  std::optional<std::uint32_t> rise, fall;
  SourcePos table_pos, timeout_pos, query_pos, send_pos, expect_pos;
  bool query_given = false, send_given = false, expect_given = false;
};

struct BackendDraft {
  BackendConfig config;
  std::vector<ServerDraft> servers;
  HealthDraft health;
  SourcePos resolve_min_pos;
  bool balance_given = false;
};

struct FrontendDraft {
  FrontendConfig config;
  bool preset_ok = true;     // false: the preset value was bad (already reported)
  bool has_backend = false;  // the backend key was a string
  SourcePos backend_pos;
  std::vector<SourcePos> listen_pos;  // where each of config.listen was written
};

// A listen address already taken, to report duplicates within and across frontends.
struct TakenListen {
  SockAddr addr;
  std::string frontend;
  SourcePos pos;
};

// [global]: its fixed keys into `fixed`, the reloadable ones into `global`.
void loadGlobal(ConfigReader& r, const ConfigNode& table, FixedConfig& fixed, GlobalConfig& global);
// [backend.NAME] with its servers and the keys of its health table.
BackendDraft loadBackend(ConfigReader& r, const NamedTable& nt);
// [backend.NAME.health], as written; finishHealth completes it.
void loadHealth(ConfigReader& r, const ConfigNode& table, const std::string& path, HealthConfig& h, HealthDraft& d);
// The probe type (given, or agreed by the presets of the backend's users), its defaults, consistency.
void finishHealth(ConfigReader& r, BackendDraft& b, const std::vector<const FrontendDraft*>& users);
// [frontend.NAME]; `taken` collects the listen addresses of the frontends read so far.
FrontendDraft loadFrontend(ConfigReader& r, const NamedTable& nt, std::vector<TakenListen>& taken);
// Every frontend names a defined backend, every backend is used, and what a backend takes from
// the frontends using it (default server port, health probe) is filled in.
void checkReferences(ConfigReader& r, const std::vector<FrontendDraft>& frontends,
                     std::vector<BackendDraft>& backends);
// A frontend whose backend sends its datagrams back to udpx (a server that is a listen address
// of that frontend, or of one whose backend leads back) would loop every datagram forever:
// an error at the server (loops.cpp). Runs after checkReferences (the default ports are known).
void checkLoops(ConfigReader& r, const std::vector<FrontendDraft>& frontends,
                const std::vector<BackendDraft>& backends);
// The whole document: every section, then the cross-checks, into `config`.
void loadDocument(ConfigReader& r, const ConfigNode& root, Config& config);

}  // namespace udpx

// The difference between the running configuration and a reloaded one, by name: which frontends,
// backends and servers go, come and stay, and which settings of those that stay changed. A
// sorted merge of both sides by name, as chrony's reload_source_dirs (conf.c) merges its sources:
// one pass that removes, adds and keeps. Runtime::reload applies it; its summary() is the one
// line the log, `udpx reload` and the status show.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace udpx {

enum class Change : std::uint8_t { Kept, Changed, Added, Removed };

// A server's identity across reloads: its address ("127.0.0.1:123") when literal, else the
// host name and port as written ("ntp.example.org:123").
std::string serverKey(const ServerConfig& sc);

struct ServerDiff {
  std::vector<const ServerConfig*> added;  // in the new config
  std::vector<std::string> removed;        // serverKey of servers only the old config has
  std::vector<std::string> kept;
};

struct BackendDiff {
  std::string name;
  Change change = Change::Kept;
  ServerDiff servers;
  // Settings other than the servers (balance, fail_timeout, health, on_all_down, resolve_*),
  // by key name, that differ: "balance", "health", ...
  std::vector<std::string> settings;
  const BackendConfig* before = nullptr;  // null when added
  const BackendConfig* after = nullptr;   // null when removed
};

struct FrontendDiff {
  std::string name;
  Change change = Change::Kept;
  std::vector<std::string> settings;  // keys that differ: "listen", "allow", "session_timeout", ...
  const FrontendConfig* before = nullptr;
  const FrontendConfig* after = nullptr;

  bool changed(const char* key) const;
};

struct ConfigDiff {
  std::vector<FrontendDiff> frontends;  // sorted by name, every frontend of either side
  std::vector<BackendDiff> backends;    // sorted by name
  std::vector<std::string> global;      // [global] keys that differ: log_level, max_sessions, resolvers, status, metrics

  bool empty() const noexcept;
  // "+1 frontend (c), -1 frontend (a), frontend b: session_timeout, backend b: 1 server added,
  // 1 draining", or "no change".
  std::string summary() const;
};

// Compares two validated configurations (the pointers in the result point into them).
ConfigDiff diffConfigs(const ReloadableConfig& before, const ReloadableConfig& after);

}  // namespace udpx

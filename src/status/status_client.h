// `udpx status`: reads the running instance's status over its status socket and prints it
// for people (a sentence and a hint for every problem) or as JSON; the exit code says how
// things are: 0 all well, 1 something is down or wrong, 2 udpx cannot be reached.
#pragma once

#include <optional>
#include <string>

#include "status/json.h"
#include "status/snapshot.h"

namespace udpx {

inline constexpr int kStatusOk = 0;
inline constexpr int kStatusProblems = 1;
inline constexpr int kStatusUnreachable = 2;

// Runs the command: `socket` overrides the endpoint found from `config_path`.
int runStatusCommand(const std::string& config_path, const std::optional<std::string>& socket, bool as_json);

// The status endpoint of the udpx running with `config_path` (global.status, else the default
// derived from the path, also when this user cannot read the file); `socket` overrides it.
std::string findStatusEndpoint(const std::string& config_path, const std::optional<std::string>& socket);

// The human text for a snapshot, and for a status document (snapshot_json.h).
std::string renderStatusText(const Snapshot& status);
std::string renderStatusText(const json::Value& status);

}  // namespace udpx

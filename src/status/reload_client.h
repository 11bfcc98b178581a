// `udpx reload`: asks the udpx running with a config file, through its status socket, to reload
// that file, waits for the outcome and prints it. Who may ask is decided by the server (root and
// the user udpx runs as, by the peer's credentials); the answer says so when it is refused.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace udpx {

inline constexpr int kReloadApplied = 0;
inline constexpr int kReloadRefused = 1;      // the config has errors, or this user may not reload
inline constexpr int kReloadUnreachable = 2;  // no udpx answers for that config

// The request line and the answer on the status socket (status_server.h), one JSON object:
//   {"reload": "applied" | "refused" | "denied", "config": FILE, "summary": "...", "errors": ["..."]}
inline constexpr const char* kReloadRequest = "reload";
std::string reloadAnswerJson(const std::string& result, const std::string& config, const std::string& summary,
                             const std::vector<std::string>& errors);

// Runs the command: `socket` overrides the endpoint found from `config_path`. Prints
// "reloaded FILE: SUMMARY" (exit 0), or every error (exit 1); exit 2 when udpx cannot be reached.
int runReloadCommand(const std::string& config_path, const std::optional<std::string>& socket);

}  // namespace udpx

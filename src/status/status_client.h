// `udpx status`: reads the running instance's status over its status socket and prints it
// for people (a sentence and a hint for every problem) or as JSON; the exit code says how
// things are: 0 all well, 1 something is down or wrong, 2 udpx cannot be reached.
#pragma once

#include <optional>
#include <string>

#include <sys/types.h>

#include "net/unique_fd.h"
#include "status/json.h"
#include "status/snapshot.h"

namespace udpx {

inline constexpr int kStatusOk = 0;
inline constexpr int kStatusProblems = 1;
inline constexpr int kStatusUnreachable = 2;

// Runs the command: `socket` overrides the endpoint found from `config_path`.
// `clients`: each frontend's recent clients (clients_text.h) instead of the overview.
int runStatusCommand(const std::string& config_path, const std::optional<std::string>& socket, bool as_json,
                     bool clients = false);

// A connection to the udpx running with `config_path` (or at `socket`), checked the same way for
// `udpx status` and `udpx reload`: the endpoints are tried in order (the runtime path, then the
// abstract name), and the answer is believed only when SO_PEERCRED shows root, this user, the
// owner of /run/udpx or of the config file, or global.user — never another local user's
// squatted socket.
struct StatusLink {
  enum class Result { Connected, Off, Unreachable, Untrusted } result = Result::Unreachable;
  UniqueFd fd;           // Connected
  std::string endpoint;  // the one connected to (Connected, Untrusted)
  std::string tried;     // every endpoint tried, each with why it failed (Unreachable)
  uid_t uid = 0;         // who serves it (Untrusted)
  pid_t pid = 0;
};
StatusLink connectTrusted(const std::string& config_path, const std::optional<std::string>& socket);
// The sentence for an untrusted answer, after "udpx status: " or "udpx reload: ".
std::string untrustedMessage(const StatusLink& link);

// The human text for a snapshot, and for a status document (snapshot_json.h).
std::string renderStatusText(const Snapshot& status);
std::string renderStatusText(const json::Value& status);

}  // namespace udpx

// Command line: what the user asked for (run a config, check it, or run a one-line preset).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace udpx {

struct CliOptions {
  enum class Mode { Run, Check, Status, Reload, Help, Version } mode = Mode::Run;
  std::string config_path = "/etc/udpx/udpx.toml";
  std::optional<std::string> log_level;
  // udpx status and udpx reload: --socket NAME overrides the endpoint derived from the config;
  // --json (status only).
  std::optional<std::string> status_socket;
  bool json = false;
  bool clients = false;  // udpx status --clients
  // One-line mode (--preset ...): a frontend "cli" and a backend "cli" built from flags.
  bool one_line = false;
  std::string preset;
  std::vector<std::string> listen, upstream, allow;
  std::optional<std::string> timeout, responses, balance;
  // --listen-fd FRONTEND=N, repeatable: an inherited, already bound socket for FRONTEND.
  std::vector<std::pair<std::string, int>> listen_fds;
  // Hidden --worker-fd N: this process is the worker started by the binder (src/privsep/),
  // N its end of the socketpair the config and the sockets arrive on.
  std::optional<int> worker_fd;
  // Not a flag: set by main() in a secure start (app/secure_mode.h): a reload reads the file
  // through the same trusted-path check.
  bool secure_start = false;
};

// Parses argv. On a usage error returns nullopt with `error` set.
std::optional<CliOptions> parseCommandLine(int argc, char** argv, std::string& error);

// The config text equivalent to the one-line flags (loaded like a file, so the same
// validation applies).
std::string oneLineConfig(const CliOptions& o);

// Rewrites a config error path of the one-line config to the flag it came from
// ("frontend.cli.listen[1]" -> "--listen #2").
std::string flagForPath(const std::string& path);

const char* usageText();

}  // namespace udpx

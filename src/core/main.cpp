// udpx entry point: parse the command line, load and validate the config, bind, run.
#include <cstdio>
#include <exception>

#include "core/cli.h"
#include "core/config.h"
#include "core/log.h"
#include "core/runtime.h"
#include "core/status_client.h"
#include "core/version.h"

namespace {

std::optional<udpx::LogLevel> parseLevel(const std::string& s) {
  if (s == "error") return udpx::LogLevel::Error;
  if (s == "warn") return udpx::LogLevel::Warn;
  if (s == "info") return udpx::LogLevel::Info;
  if (s == "debug") return udpx::LogLevel::Debug;
  return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace udpx;
  std::string error;
  std::optional<CliOptions> opt = parseCommandLine(argc, argv, error);
  if (!opt) {
    std::fprintf(stderr, "udpx: %s\n\n%s", error.c_str(), usageText());
    return 2;
  }
  if (opt->mode == CliOptions::Mode::Help) {
    std::fputs(usageText(), stdout);
    return 0;
  }
  if (opt->mode == CliOptions::Mode::Version) {
    std::printf("udpx %s\n", UDPX_VERSION);
    return 0;
  }

  if (opt->mode == CliOptions::Mode::Status) {
    return runStatusCommand(opt->config_path, opt->status_socket, opt->json);
  }

  LoadResult loaded = opt->one_line ? loadConfigString(oneLineConfig(*opt), "<command line>")
                                    : loadConfigFile(opt->config_path);
  for (const ConfigError& w : loaded.warnings) {
    std::fprintf(stderr, "udpx: warning: %s\n", w.format().c_str());
  }
  if (!loaded.errors.empty()) {
    for (const ConfigError& e : loaded.errors) {
      if (opt->one_line) {
        std::fprintf(stderr, "udpx: %s: %s%s\n", flagForPath(e.path).c_str(), e.message.c_str(),
                     e.hint.empty() ? "" : (" (" + e.hint + ")").c_str());
      } else {
        std::fprintf(stderr, "%s\n", e.format().c_str());
      }
    }
    std::fprintf(stderr, "udpx: %zu error%s in the configuration, nothing started\n", loaded.errors.size(),
                 loaded.errors.size() == 1 ? "" : "s");
    return 1;
  }
  if (opt->mode == CliOptions::Mode::Check) {
    std::printf("configuration OK\n");
    return 0;
  }

  Config& cfg = *loaded.config;
  setLogLevel(cfg.global.log_level);
  if (opt->log_level) {
    auto lvl = parseLevel(*opt->log_level);
    if (!lvl) {
      std::fprintf(stderr, "udpx: --log-level: \"%s\" is not one of error, warn, info, debug\n", opt->log_level->c_str());
      return 2;
    }
    setLogLevel(*lvl);
  }
  try {
    Runtime rt(cfg);
    std::vector<std::string> bind_errors;
    if (!rt.bindAll(bind_errors)) {
      for (const std::string& e : bind_errors) LOG_ERROR("%s", e.c_str());
      LOG_ERROR("not started: %zu listener%s could not be opened", bind_errors.size(),
                bind_errors.size() == 1 ? "" : "s");
      return 1;
    }
    return rt.run();
  } catch (const std::exception& e) {
    LOG_ERROR("cannot start: %s", e.what());
    return 1;
  }
}

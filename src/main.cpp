// udpx entry point: the command line picks a mode, and each mode is one function of src/app/
// (modes.h):
//   help, version, status,     answered here, or by asking a running udpx (status_client.h,
//   reload                     reload_client.h)
//   check                      runCheck: the configuration and every start-up check
//   run                        runStart: with privilege, open the sockets, start the worker and
//                              drop (src/privsep/); without, take/open the sockets, sandbox
//                              itself, run
//   --worker-fd N              runWorker: receive config and sockets, drop everything, sandbox, run
#include <cstdio>
#include <exception>

#include "app/cli.h"
#include "app/modes.h"
#include "app/runtime.h"
#include "base/log.h"
#include "base/version.h"
#include "config/config.h"
#include "status/reload_client.h"
#include "status/status_client.h"

using namespace udpx;

int main(int argc, char** argv) {
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
  if (opt->mode == CliOptions::Mode::Reload) return runReloadCommand(opt->config_path, opt->status_socket);
  std::optional<LogLevel> cli_level;
  if (opt->log_level) {
    cli_level = parseLogLevel(*opt->log_level);
    if (!cli_level) {
      std::fprintf(stderr, "udpx: --log-level: \"%s\" is not one of %s\n", opt->log_level->c_str(),
                   joinNames(enumNames(kLogLevelNames)).c_str());
      return 2;
    }
  }
  Runtime::log_level_from_command_line = cli_level.has_value();
  try {
    if (opt->worker_fd) {
      if (cli_level) setLogLevel(*cli_level);
      return runWorker(*opt->worker_fd);
    }

    LoadResult loaded = opt->one_line ? loadConfigString(oneLineConfig(*opt), kCommandLineConfigName)
                                      : loadConfigFile(opt->config_path);
    if (!acceptConfig(loaded, opt->one_line)) return 1;
    if (opt->mode == CliOptions::Mode::Check) return runCheck(loaded);
    setLogLevel(cli_level.value_or(loaded.config->global.log_level));
    return runStart(*opt, loaded);
  } catch (const std::exception& e) {
    LOG_ERROR("cannot start: %s", e.what());
    return 1;
  }
}

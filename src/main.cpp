// udpx entry point: the command line picks a mode, and each mode is one function of src/app/
// (modes.h):
//   help, version, status,     answered here, or by asking a running udpx (status_client.h,
//   reload                     reload_client.h)
//   check                      runCheck: the configuration and every start-up check
//   run                        runStart: with privilege, open the sockets, start the worker and
//                              drop (src/privsep/); without, take/open the sockets, sandbox
//                              itself, run
//   --worker-fd N              runWorker: receive config and sockets, drop everything, sandbox, run
// Installed setuid root or with file capabilities and started by an ordinary user, udpx first
// enters secure-start mode (app/secure_mode.h): a trusted config only, a reduced environment;
// setuid root then becomes root wholly and starts as root would.
#include <cstdio>
#include <exception>

#include "app/cli.h"
#include "app/modes.h"
#include "app/runtime.h"
#include "app/secure_mode.h"
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
  const privsep::SecureStart secure = privsep::detectSecureStart();
  if (secure.active) {
    if (const int rc = enterSecureMode(*opt, secure); rc >= 0) return rc;
    opt->secure_start = true;
  }
  if (opt->mode == CliOptions::Mode::Status) {
    return runStatusCommand(opt->config_path, opt->status_socket, opt->json, opt->clients);
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

    std::optional<LoadResult> trusted;
    if (secure.active && !(trusted = loadTrustedConfig(opt->config_path, secure))) return 1;
    LoadResult loaded = trusted                ? std::move(*trusted)
                        : opt->one_line        ? loadConfigString(oneLineConfig(*opt), kCommandLineConfigName)
                                               : loadConfigFile(opt->config_path);
    if (!acceptConfig(loaded, opt->one_line)) return 1;
    if (opt->mode == CliOptions::Mode::Check) return runCheck(loaded);
    // The set-user-ID bit made only the effective uid root: become root wholly, so the caller
    // cannot signal the binder and the start is the ordinary root one.
    if (secure.setuid_root) privsep::becomeRoot();
    setLogLevel(cli_level.value_or(loaded.config->global.log_level));
    return runStart(*opt, loaded);
  } catch (const std::exception& e) {
    LOG_ERROR("cannot start: %s", e.what());
    return 1;
  }
}

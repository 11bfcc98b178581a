// Secure-start mode (issue 16): udpx is setuid root or has file capabilities and an ordinary
// user started it. Everything the caller controls besides the command line is reduced to what
// is safe before any of it is used: the environment, the configuration file (only one root
// controls: privsep/trusted_file.h), inherited sockets, umask, working directory, signals.
// Runs in: the process a user started, first thing in main().
#pragma once

#include <string>
#include <vector>

#include "app/cli.h"
#include "config/config.h"
#include "privsep/secure_start.h"

namespace udpx {

// The environment a secure start keeps, from `env` ("NAME=value" each): the locale (LANG,
// LANGUAGE, LC_*), TERM and TZ with short values and no "/", a fixed PATH, and (sanitizer builds
// only) the sanitizers' options. `notes`: what was ignored that the caller may have meant
// (UDPX_TEST_HOOK, NOTIFY_SOCKET); `errors`: what refuses the start (LISTEN_FDS, LISTEN_PID).
struct SafeEnvironment {
  std::vector<std::string> keep;
  std::vector<std::string> notes;
  std::vector<std::string> errors;
};
SafeEnvironment safeEnvironment(const std::vector<std::string>& env);

// Enters secure-start mode for `opt`: logs what it is, replaces the environment, refuses
// --listen-fd, --preset and socket activation, sets umask 022, the working directory "/" and
// default signal dispositions; udpx status, udpx reload and --worker-fd become the caller
// wholly (privsep::becomeCaller). Returns -1 to go on, else the exit code (after saying why).
int enterSecureMode(CliOptions& opt, const privsep::SecureStart& s);

// The configuration of a secure start: `path` read by privsep::readTrustedFile as the caller,
// then loaded. Refused: one line on stderr naming the rule, nothing of the file; std::nullopt.
std::optional<LoadResult> loadTrustedConfig(const std::string& path, const privsep::SecureStart& s);

}  // namespace udpx

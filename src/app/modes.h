// The modes udpx runs in, one function each; src/main.cpp picks one from the command line.
// Each returns the process exit code.
//   runCheck   udpx check: the configuration is valid and start-up would accept it
//   runStart   udpx started by a person or a service manager: gather the listening sockets,
//              then become the binder (privileged, src/privsep/binder.h) or serve in-process
//   runWorker  --worker-fd N: the binder's worker: receive config and sockets, then serve
//   serve      what the worker and the single process share: runtime, drop, sandbox, run
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "app/cli.h"
#include "config/config.h"
#include "net/unique_fd.h"
#include "privsep/drop.h"

namespace udpx {

// Prints a loaded configuration's warnings and errors to stderr; true if it has no error.
// `one_line`: it came from --preset flags, and each error names its flag.
bool acceptConfig(const LoadResult& loaded, bool one_line);
// The errors alone, with their count and "nothing started" (the worker: the binder has already
// shown the warnings).
void printConfigErrors(const LoadResult& loaded, bool one_line);

// Logs each error and "not started: N <what>s"; returns 1, the exit code.
int reportStartErrors(const std::vector<std::string>& errors, const char* what);

// What start-up checks beyond the loader, given this process's privilege: the account to run as
// (global.user, global.group, the default's fallback to nobody), the chroot directory, the
// handover to the worker. `udpx check` and the start both call it, so check refuses whatever the
// start would refuse.
struct Preflight {
  std::optional<privsep::Identity> identity;  // set when the account is usable
  std::vector<std::string> errors;            // each says what, why and how to fix it
  std::vector<std::string> warnings;          // the start goes on (runs as nobody)
};
Preflight preflight(const LoadResult& loaded, bool privileged, bool can_switch);

// udpx check: the loader's checks (done by the caller) and preflight(), as this process would
// start. Prints "configuration OK".
int runCheck(const LoadResult& loaded);

// Starts from a validated configuration (`loaded`, from `opt`): sockets from systemd and
// --listen-fd, the account to run as, the chroot check, the rest of the listening sockets; then
// privsep::runBinder when privileged, else serve() in this process.
int runStart(const CliOptions& opt, const LoadResult& loaded);

// The worker (--worker-fd `fd`): the configuration and the sockets arrive from the binder on
// `fd`, which then stays open so the worker stops when the binder goes.
int runWorker(int fd);

// Worker and single process alike, once the sockets are in hand: builds the runtime, finishes
// every privileged or file-touching step, sheds privilege (to `drop_to`, or keeping the
// current account when nullptr), closes the sandbox, runs. `binder`: stop when it closes.
// `inherited`: where the listening sockets came from when not bound here ("systemd socket
// activation", "--listen-fd"; "" when udpx bound them): a reload cannot bind new ones then.
int serve(const Config& cfg, std::vector<UniqueFd> listeners, UniqueFd binder, const privsep::Identity* drop_to,
          const std::string& inherited);

}  // namespace udpx

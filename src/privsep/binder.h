// The binder: the only udpx code that runs with privilege once the sockets are open. It starts
// the worker (this binary, in worker mode), hands it the config text and the listening sockets,
// drops to the unprivileged account keeping only CAP_NET_BIND_SERVICE, then forwards signals,
// watches the worker and carries out reloads (binder_reload.h): on SIGHUP to either process it
// reads the file, binds the new listen addresses, hands both to the worker and keeps the sockets
// of the config the worker applied. It parses no packets and opens no sockets for the worker
// other than those of a config file it parsed itself.
// Runs in: the binder.
//
// The privsep room (src/privsep/) holds all code that uses or sheds privilege, each file saying
// which process runs it: the binder (this file), the handover to the worker (fdpass.h), sockets
// from systemd and --listen-fd and the one list of listening sockets (activation.h), the
// privilege drop and chroot (drop.h) and the worker's seccomp sandbox (sandbox.h). It runs no
// data path; the modes in src/app/ call it in order.
#pragma once

#include <string>
#include <vector>

#include "net/unique_fd.h"
#include "net/address.h"
#include "privsep/binder_reload.h"
#include "privsep/drop.h"

namespace udpx::privsep {

struct BinderPlan {
  std::string config_name;  // for messages
  std::string config_text;  // exactly what the binder parsed; the worker parses it again
  std::vector<UniqueFd> listeners;     // one per listen endpoint (config.h listenEndpoints), in config order
  std::vector<ListenEndpoint> listen;  // those endpoints, as configured (same order)
  ReloadSource reload;              // where SIGHUP reads the config again
  Identity identity;
  bool change_identity = true;   // false when started without root (only CAP_NET_BIND_SERVICE)
  std::vector<std::string> worker_args;  // extra arguments (--log-level)
  // Restart a worker that died unexpectedly (bounded). Off with a chroot: an unprivileged
  // binder cannot start a worker that chroots.
  bool restart = true;
};

// Starts the worker, drops privilege, forwards SIGTERM/SIGINT/SIGUSR1 to it, reloads on SIGHUP
// (its own or the worker's, which asks over the socketpair) and reports how the worker ended.
// A restarted worker gets the config the last worker applied. Returns the process exit code: 0 after a requested stop, 1 otherwise.
int runBinder(BinderPlan plan);

// "exited with status 3", "was killed by SIGSEGV (Segmentation fault)", and for SIGSYS the
// sandbox explanation. Exposed for tests.
std::string describeWorkerEnd(int wait_status);

}  // namespace udpx::privsep

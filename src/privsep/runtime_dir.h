// The runtime directory (/run/udpx, status/status_socket.h): made by the binder, as root, before
// the worker starts, so that the worker can put its status socket where no other local user can
// take the name first. Runs in: the binder (as root).
#pragma once

#include "privsep/drop.h"

namespace udpx::privsep {

// Creates kRuntimeDir (mode 0755) if missing and gives it to `owner` (the account udpx runs as):
// entries in it can then be made only by root and by that account, which a restarted worker
// (started already unprivileged) needs. Failures are logged as warnings: the worker then falls
// back to the abstract socket name.
void prepareRuntimeDir(const Identity& owner);

}  // namespace udpx::privsep

// The reload seam: what a reload is handed and what it answers. One `ReloadRequest` reaches
// Runtime::reload however the reload was asked for (SIGHUP to the worker or the binder,
// `udpx reload` through the status socket, systemd's ExecReload), and however the text was read:
// by the binder, which also binds the new listen addresses (privilege separation), or by the
// single process itself.
//
// Issue 12. Two parts meet here:
//   - applying (Runtime::reload, src/app/reload*.cpp): parse, diff against the running config,
//     refuse whole or apply, count, remember the outcome for `udpx status`;
//   - transport (binder, status socket, `udpx reload`): gets the text and the new sockets to
//     Runtime::reload and carries the outcome back to whoever asked.
#pragma once

#include <string>
#include <vector>

#include "net/unique_fd.h"

namespace udpx {

struct ReloadRequest {
  std::string config_name;  // the file, for messages ("/etc/udpx.toml")
  std::string config_text;  // exactly what was read; parsed by Runtime::reload
  // Listening sockets opened for this reload by whoever read the file (the binder), each
  // matched to a listen address by getsockname like Runtime::adoptListeners. Addresses the
  // running config already has keep their sockets and get none here; a new address that gets
  // none is bound by Runtime::reload itself where it can, else the reload is refused.
  std::vector<UniqueFd> new_listeners;
  // Errors found before the text reached the runtime (the binder could not read the file, could
  // not bind a new address): the reload is refused with these, counted and reported the same way.
  std::vector<std::string> transport_errors;
};

struct ReloadOutcome {
  bool applied = false;
  // Every error, one line each, "FILE:LINE:COL: …" where there is a position.
  std::vector<std::string> errors;
  // What changed, one line: "+1 frontend (c), backend b: 1 server added, 1 draining", or
  // "no change". Empty when refused.
  std::string summary;
};

}  // namespace udpx

// The binder's part of a reload (issue 12): it reads the config file itself (the worker opens no
// file in its sandbox), finds the listen addresses the worker does not serve yet and binds those
// (it kept CAP_NET_BIND_SERVICE for this), and once the worker has applied the new config keeps
// the sockets of that config, for the worker it starts next. Like chrony's privops, it binds only
// addresses named in the file it read itself, whatever the worker asks.
// Runs in: the binder (after its privilege drop).
#pragma once

#include <string>
#include <vector>

#include "net/address.h"
#include "net/listen_socket.h"
#include "net/unique_fd.h"
#include "privsep/drop.h"

namespace udpx::privsep {

// A listen address of the config the worker serves, and the binder's copy of its socket.
struct ServedListener {
  SockAddr addr;
  UniqueFd fd;
  Transport transport = Transport::Udp;  // a frontend with tcp = true has one of each
};

// Where a reload reads from, and what it may do.
struct ReloadSource {
  std::string path;       // the config file; empty: started from --preset flags, nothing to read
  bool may_bind = true;   // false: the sockets came from outside (systemd, --listen-fd)
  bool trusted_only = false;  // secure start: read through readTrustedFile (trusted_file.h)
  // What global.status = "" means: the endpoint chosen at start (status/status_socket.h
  // chooseStatusEndpoint), so a reload back to the default makes its socket file again.
  std::string status_default = "";
};

// What the binder hands the worker for one reload.
struct BinderReload {
  std::string text;                  // the file as read ("" when it could not be)
  std::vector<std::string> errors;   // the reload is refused with these (ReloadRequest::transport_errors)
  std::vector<ServedListener> fresh; // sockets bound for the new addresses
  std::vector<ListenEndpoint> listen;  // every listen endpoint of the new config, in config order
  // The status endpoint of the new config, and the socket file made for it when it is a path
  // nothing listens on yet (the sandboxed worker can neither remove a stale file nor, in a
  // chroot, reach the path). Handed with the fresh sockets; the worker knows it by its path.
  std::string status;
  UniqueFd status_fd;
};

// Reads `src.path`, parses it, and binds every listen address it names that `served` does not
// have, and the status socket file it names when nothing listens there. A file that does not parse is still handed on (the worker reports its errors with
// file:line:col) but binds nothing. A file the binder cannot read, an address it cannot bind, and
// a new address while the sockets came from outside are errors.
BinderReload readAndBind(const ReloadSource& src, const std::vector<ServedListener>& served);

// After the worker applied `applied`: the sockets of the new config, in its order — those that
// stay from `served` and the fresh ones. Sockets of addresses that went away are closed.
std::vector<ServedListener> servedAfter(std::vector<ServedListener> served, BinderReload& applied);

// After a reload ended (applied: `from` is the endpoint the worker left; refused or lost:
// `from` is the file made for it): removes the socket file at `from` if it is one and nothing
// listens on it any more.
void forgetStatusFile(const std::string& from);

// "cannot read FILE: why — how to let `who` read it", naming the file's owner, group and mode.
std::string unreadableConfigError(const std::string& path, int err, const Identity& who);

}  // namespace udpx::privsep

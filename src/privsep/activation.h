// Listening sockets from outside: systemd socket activation (LISTEN_FDS/LISTEN_PID) and
// --listen-fd FRONTEND=N; and the one list of sockets, one per configured listen address,
// that the worker serves (inherited ones matched by getsockname, the rest bound here).
// Runs in: the binder, or udpx started without privilege (before it sandboxes itself).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/address.h"
#include "config/config.h"
#include "net/unique_fd.h"

namespace udpx::privsep {

struct InheritedSocket {
  UniqueFd fd;
  std::string source;    // "LISTEN_FDS socket 3", "--listen-fd lan_ntp=5", for messages
  std::string frontend;  // the frontend --listen-fd named; empty for systemd's sockets
};

// The sockets systemd passed: fds 3.. when LISTEN_PID is this process (any other value means
// they were meant for another process: none). Removes LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES
// from the environment so no child inherits them.
std::vector<InheritedSocket> takeSystemdSockets(std::vector<std::string>& errors);
// How many sockets LISTEN_PID and LISTEN_FDS (null: unset) promise a process whose pid is
// `our_pid`: 0 when they are meant for another process; nullopt with `error` set when LISTEN_FDS
// is not a count (tests/fuzz/activation_fuzz.cpp).
std::optional<long> systemdSocketCount(const char* pid_text, const char* fds_text, long our_pid, std::string& error);

// The sockets named by --listen-fd FRONTEND=N.
std::vector<InheritedSocket> takeListenFds(const std::vector<std::pair<std::string, int>>& flags,
                                           std::vector<std::string>& errors);

// One socket per listen endpoint of `cfg` (listenEndpoints: UDP, and TCP where a frontend has
// tcp = true), in config order: an inherited socket bound to that
// address (getsockname), else a new one opened here. An inherited socket that matches no listen
// address, or one --listen-fd attributes to another frontend, is an error; so is an address that
// cannot be bound. `notes` collects warnings (a dual-stack [::] socket).
std::vector<UniqueFd> openListeners(const Config& cfg, std::vector<InheritedSocket> inherited,
                                    std::vector<std::string>& errors, std::vector<std::string>& notes);

}  // namespace udpx::privsep

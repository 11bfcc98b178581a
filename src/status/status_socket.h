// Where the status of a running udpx can be read: a unix socket, by default in the abstract
// namespace with a name derived from the config file's real path, so `udpx status -c FILE`
// finds the instance started with FILE — for any local user, with no directory to create and
// nothing to reach inside a chroot.
#pragma once

#include <string>

#include "config/config.h"
#include "net/unique_fd.h"

namespace udpx {

// "@udpx:/etc/udpx.toml" for the config file's real path (a hash of it when too long for a
// socket name); for the one-line mode, derived from its first listen address.
std::string defaultStatusEndpoint(const std::string& config_file);

// The endpoint of a loaded config: global.status, or the default; "off" when disabled.
std::string statusEndpoint(const Config& cfg);

// The runtime directory only root and udpx's account may create entries in (made by the binder
// at a start as root, or by systemd's RuntimeDirectory=); no other local user can take a name
// there before udpx does.
inline constexpr const char* kRuntimeDir = "/run/udpx";

// "/run/udpx/udpx.toml.HASH.sock" for the config file's real path (or the one-line mode's
// name): where a udpx started as root serves its status by default.
std::string runtimeStatusPath(const std::string& config_file);

// kRuntimeDir is a directory (not a link), writable by no group or other, and this process may
// create entries in it.
bool runtimeDirUsable();

// The endpoint the server listens on: global.status; else the runtime path when the runtime
// directory is usable; else the abstract name (an unprivileged start). `udpx status` tries them
// in the same order.
std::string chooseStatusEndpoint(const Config& cfg);

// What listenStatus does with a socket file already at the path: at start-up and in the binder
// one that nothing listens on (left by an instance that died) is replaced; in the sandbox (a
// reload of the one process moving the endpoint) nothing can be removed, and the move is refused.
enum class StaleSocket { Replace, Refuse };

// A listening stream socket at `endpoint` ("@NAME" abstract, "/PATH" a file created mode 0666
// through the umask, so no chmod is needed). Invalid fd and `error` on failure.
UniqueFd listenStatus(const std::string& endpoint, std::string& error, StaleSocket stale = StaleSocket::Replace);

// Removes the socket file at `path` if it is one (never another kind of file) and nothing
// listens on it (left by an instance that died, or by a reload that moved the endpoint).
bool removeDeadSocketFile(const std::string& path);

// The path a listening unix socket is bound to ("" for an abstract name or another kind of
// socket): how a reload recognises the status socket the binder made among the sockets it hands.
std::string boundSocketPath(int fd);

// A connected client socket to `endpoint`. Invalid fd and `error` (strerror) on failure.
UniqueFd connectStatus(const std::string& endpoint, std::string& error);
// Client side: reads until the server closes, waiting at most `timeout_ms` for each piece
// (`udpx status`, `udpx reload`). false with `error` ("no answer within 5s", strerror) otherwise.
bool readUntilClosed(int fd, int timeout_ms, std::string& out, std::string& error);

}  // namespace udpx

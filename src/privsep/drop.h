// Giving up privilege: the account to become, the chroot check, the drop itself.
// Runs in: the binder (dropKeepingBindService) and the worker (enterChroot, dropEverything).
// Every failure here is fatal: a process that cannot shed privilege must not go on.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <optional>
#include <string>

#include "config/config.h"

namespace udpx::privsep {

// The unprivileged account both processes run as.
struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string user, group;
  // global.user was unset and no "udpx" account exists: the default fell back to "nobody",
  // which other daemons share (any process running as nobody may signal udpx's processes).
  bool shared_fallback = false;
};

// global.user (default: "udpx" if it exists, else "nobody") and global.group (default: the
// user's primary group). A missing account, or one that is root, is an error naming the key.
// Falling back to nobody is not an error; sharedAccountWarning() says why it is worse.
std::optional<Identity> resolveIdentity(const Config& cfg, std::string& error);

// What the log says when `id.shared_fallback`: nobody is shared, and how to create "udpx".
std::string sharedAccountWarning(const Identity& id);

// The account this process runs as now (names from the user and group databases, else numbers).
Identity currentIdentity();

// True if this process may bind ports below 1024 (root, or CAP_NET_BIND_SERVICE effective).
bool canBindPrivilegedPorts();
// True if this process can change its user (root, or CAP_SETUID and CAP_SETGID effective).
bool canChangeIdentity();

// What is wrong with `st` as a chroot directory, or "" if nothing: it must be a directory owned
// by root and writable by nobody else, or the unprivileged worker could plant files in its root.
std::string chrootProblem(const std::string& dir, const struct stat& st);
// Same for the directory on disk (follows no symlink at the last component).
bool checkChrootDir(const std::string& dir, std::string& error);

// Worker, while still root: chroot(dir) and chdir("/"). Fatal on failure.
void enterChroot(const std::string& dir);

// Worker: become `id` (setgroups(0), setresgid, setresuid; skipped when the ids already are
// those, as in a worker restarted by the unprivileged binder), empty every capability set
// (bounding set too, while that is still possible), no_new_privs, not dumpable. Verifies the
// result. When `change_identity` is false (udpx started as an ordinary user) the ids stay.
void dropEverything(const Identity& id, bool change_identity);

// Binder: become `id` keeping only CAP_NET_BIND_SERVICE (permitted and effective; the bounding
// set is reduced to it), no_new_privs, not dumpable. Verifies the result.
void dropKeepingBindService(const Identity& id, bool change_identity);

// AddressSanitizer builds only: make the process dumpable again, so the leak checker's tracer
// may attach to it at exit. Never called in a normal build.
void allowLeakCheck();

}  // namespace udpx::privsep

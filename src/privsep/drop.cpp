// Dropping privilege: setgroups/setresgid/setresuid, capabilities (libcap), no_new_privs, chroot.
// Runs in: the binder and the worker (see drop.h for which function runs where).
#include "privsep/drop.h"

#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/log.h"

namespace udpx::privsep {
namespace {

constexpr const char* kDefaultUser = "udpx";
constexpr const char* kFallbackUser = "nobody";

[[noreturn]] void fatal(const std::string& what, int err) {
  LOG_ERROR("cannot drop privileges: %s: %s — udpx stops rather than run with privilege", what.c_str(),
            strerror(err));
  std::_Exit(1);
}

[[noreturn]] void fatal(const std::string& what) {
  LOG_ERROR("cannot drop privileges: %s — udpx stops rather than run with privilege", what.c_str());
  std::_Exit(1);
}

std::string where(const Config& cfg, SourcePos pos, const char* key) {
  std::string out = cfg.file;
  if (pos.line != 0) out += ":" + std::to_string(pos.line) + ":" + std::to_string(pos.col);
  return out + ": " + key + ": ";
}

bool hasEffective(cap_value_t cap) {
  cap_t caps = cap_get_proc();
  if (caps == nullptr) return false;
  cap_flag_value_t v = CAP_CLEAR;
  cap_get_flag(caps, cap, CAP_EFFECTIVE, &v);
  cap_free(caps);
  return v == CAP_SET;
}

void becomeIdentity(const Identity& id) {
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) != 0) fatal("getresuid", errno);
  if (getresgid(&rg, &eg, &sg) != 0) fatal("getresgid", errno);
  const int groups = getgroups(0, nullptr);
  const bool already = groups == 0 && ru == id.uid && eu == id.uid && su == id.uid && rg == id.gid &&
                       eg == id.gid && sg == id.gid;
  if (!already) {
    if (setgroups(0, nullptr) != 0) fatal("setgroups(0)", errno);
    if (setresgid(id.gid, id.gid, id.gid) != 0) fatal("setresgid(" + std::to_string(id.gid) + ")", errno);
    if (setresuid(id.uid, id.uid, id.uid) != 0) fatal("setresuid(" + std::to_string(id.uid) + ")", errno);
  }
  if (getresuid(&ru, &eu, &su) != 0 || ru != id.uid || eu != id.uid || su != id.uid) {
    fatal("the user ids are not all " + std::to_string(id.uid) + " after setresuid");
  }
  if (getresgid(&rg, &eg, &sg) != 0 || rg != id.gid || eg != id.gid || sg != id.gid) {
    fatal("the group ids are not all " + std::to_string(id.gid) + " after setresgid");
  }
  if (getgroups(0, nullptr) != 0) fatal("supplementary groups remain after setgroups(0)");
}

// Reduces the bounding set to `keep` (or to nothing when keep < 0); needs CAP_SETPCAP, so it
// only happens while still root. Without it the bounding set is irrelevant anyway: no process
// here can gain capabilities again (no_new_privs, no file capabilities honoured).
void reduceBoundingSet(int keep) {
  if (!hasEffective(CAP_SETPCAP)) return;
  for (cap_value_t c = 0; c <= CAP_LAST_CAP; ++c) {
    if (c == keep) continue;
    if (cap_drop_bound(c) != 0 && errno != EINVAL) fatal("dropping capability " + std::to_string(c) + " from the bounding set", errno);
  }
}

// Sets permitted = effective = `keep` (nothing when keep < 0), inheritable and ambient empty.
void setCapabilities(int keep) {
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    fatal("clearing the ambient capabilities", errno);
  }
  cap_t caps = cap_init();  // every set empty
  if (caps == nullptr) fatal("cap_init", errno);
  if (keep >= 0) {
    cap_value_t v = keep;
    cap_set_flag(caps, CAP_PERMITTED, 1, &v, CAP_SET);
    cap_set_flag(caps, CAP_EFFECTIVE, 1, &v, CAP_SET);
  }
  // Already so (udpx started without privilege): no capset, which a service manager's system
  // call filter may forbid.
  cap_t current = cap_get_proc();
  const bool same = current != nullptr && cap_compare(current, caps) == 0;
  if (current != nullptr) cap_free(current);
  if (!same && cap_set_proc(caps) != 0) {
    const int e = errno;
    cap_free(caps);
    fatal(keep >= 0 ? "keeping only CAP_NET_BIND_SERVICE (capset)" : "clearing every capability (capset)", e);
  }
  cap_free(caps);
  // Verify: what the kernel now holds is exactly what was asked for.
  cap_t now = cap_get_proc();
  if (now == nullptr) fatal("cap_get_proc", errno);
  for (cap_value_t c = 0; c <= CAP_LAST_CAP; ++c) {
    for (cap_flag_t f : {CAP_EFFECTIVE, CAP_PERMITTED, CAP_INHERITABLE}) {
      cap_flag_value_t v = CAP_CLEAR;
      cap_get_flag(now, c, f, &v);
      const bool want = c == keep && f != CAP_INHERITABLE;
      if ((v == CAP_SET) != want) {
        cap_free(now);
        fatal("capability " + std::to_string(c) + " is still " + (v == CAP_SET ? "set" : "clear") + " after capset");
      }
    }
  }
  cap_free(now);
  for (cap_value_t c = 0; c <= CAP_LAST_CAP; ++c) {
    const int r = prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0);
    if (r > 0) fatal("ambient capability " + std::to_string(c) + " is still set");
  }
}

void lockDown() {
  // NOTE: no_new_privs survives execve and forbids gaining privilege through setuid binaries or
  // file capabilities; not dumpable keeps other processes of the same user from ptrace and
  // from reading /proc/PID/mem (the kernel already resets it on the uid change; say it anyway).
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fatal("prctl(PR_SET_NO_NEW_PRIVS)", errno);
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) fatal("no_new_privs is not set after PR_SET_NO_NEW_PRIVS");
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) fatal("prctl(PR_SET_DUMPABLE, 0)", errno);
}

}  // namespace

std::optional<Identity> resolveIdentity(const Config& cfg, std::string& error) {
  const FixedConfig& g = cfg.fixed;
  Identity id;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* pwp = nullptr;
  std::string user = g.user;
  if (user.empty()) {
    user = kDefaultUser;
    if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &pwp) != 0 || pwp == nullptr) {
      user = kFallbackUser;
      id.shared_fallback = true;
    }
  }
  if (getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &pwp) != 0 || pwp == nullptr) {
    if (g.user.empty()) {
      error = "neither user \"udpx\" nor \"nobody\" exists, so there is no account to drop privileges to "
              "(create one: useradd --system --no-create-home --shell /usr/sbin/nologin udpx — or set global.user)";
    } else {
      error = where(cfg, g.user_pos, "global.user") + "user \"" + user +
              "\" does not exist (create it: useradd --system --no-create-home --shell /usr/sbin/nologin " + user +
              " — or name an existing unprivileged user)";
    }
    return std::nullopt;
  }
  if (pw.pw_uid == 0) {
    error = where(cfg, g.user_pos, "global.user") + "user \"" + user +
            "\" is root, so nothing would be given up (name an unprivileged user such as \"udpx\" or \"nobody\")";
    return std::nullopt;
  }
  id.user = user;
  id.uid = pw.pw_uid;
  id.gid = pw.pw_gid;
  group gr{};
  group* grp = nullptr;
  if (!g.group.empty()) {
    if (getgrnam_r(g.group.c_str(), &gr, buf.data(), buf.size(), &grp) != 0 || grp == nullptr) {
      error = where(cfg, g.group_pos, "global.group") + "group \"" + g.group +
              "\" does not exist (create it: groupadd --system " + g.group +
              " — or remove the key to use the user's primary group)";
      return std::nullopt;
    }
    id.gid = gr.gr_gid;
    id.group = g.group;
  } else if (getgrgid_r(id.gid, &gr, buf.data(), buf.size(), &grp) == 0 && grp != nullptr) {
    id.group = gr.gr_name;
  } else {
    id.group = std::to_string(id.gid);
  }
  if (id.gid == 0) {
    error = where(cfg, g.group.empty() ? g.user_pos : g.group_pos, g.group.empty() ? "global.user" : "global.group") +
            "group " + id.group + " is root's group (gid 0) (set global.group to an unprivileged group such as \"nogroup\")";
    return std::nullopt;
  }
  return id;
}

std::string sharedAccountWarning(const Identity& id) {
  return std::string("no \"") + kDefaultUser + "\" account exists, so udpx runs as " + id.user + ":" + id.group +
         ", which other daemons share: any process running as " + id.user +
         " can stop or kill udpx's processes. A dedicated account is safer: create it (adduser --system --group "
         "--no-create-home udpx, or a systemd-sysusers line: u udpx - \"udpx proxy\") and restart udpx, or set "
         "global.user to an account of its own";
}

Identity currentIdentity() {
  Identity id;
  id.uid = getuid();
  id.gid = getgid();
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* pwp = nullptr;
  group gr{};
  group* grp = nullptr;
  id.user = getpwuid_r(id.uid, &pw, buf.data(), buf.size(), &pwp) == 0 && pwp != nullptr ? pw.pw_name
                                                                                          : std::to_string(id.uid);
  id.group = getgrgid_r(id.gid, &gr, buf.data(), buf.size(), &grp) == 0 && grp != nullptr ? gr.gr_name
                                                                                          : std::to_string(id.gid);
  return id;
}

bool canBindPrivilegedPorts() { return geteuid() == 0 || hasEffective(CAP_NET_BIND_SERVICE); }

bool canChangeIdentity() {
  return geteuid() == 0 || (hasEffective(CAP_SETUID) && hasEffective(CAP_SETGID));
}

std::string chrootProblem(const std::string& dir, const struct stat& st) {
  if (!S_ISDIR(st.st_mode)) return "global.chroot: " + dir + " is not a directory (create it: mkdir -m 0755 " + dir + ")";
  if (st.st_uid != 0) {
    return "global.chroot: " + dir + " is owned by uid " + std::to_string(st.st_uid) +
           ", not root, so the unprivileged worker could change its own root (chown root:root " + dir + ")";
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return "global.chroot: " + dir + " is writable by its group or by others (chmod go-w " + dir + ")";
  }
  return "";
}

bool checkChrootDir(const std::string& dir, std::string& error) {
  struct stat st{};
  if (lstat(dir.c_str(), &st) != 0) {
    error = "global.chroot: " + dir + ": " + strerror(errno) + " (create it: mkdir -m 0755 " + dir + ")";
    return false;
  }
  error = chrootProblem(dir, st);
  return error.empty();
}

void enterChroot(const std::string& dir) {
  std::string why;
  if (!checkChrootDir(dir, why)) fatal(why);
  if (chroot(dir.c_str()) != 0) fatal("chroot(" + dir + ")", errno);
  if (chdir("/") != 0) fatal("chdir(\"/\") after chroot", errno);
}

void dropEverything(const Identity& id, bool change_identity) {
  reduceBoundingSet(-1);
  if (change_identity) becomeIdentity(id);
  setCapabilities(-1);
  lockDown();
}

void allowLeakCheck() { prctl(PR_SET_DUMPABLE, 1, 0, 0, 0); }

void dropKeepingBindService(const Identity& id, bool change_identity) {
  reduceBoundingSet(CAP_NET_BIND_SERVICE);
  if (change_identity) {
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fatal("prctl(PR_SET_KEEPCAPS, 1)", errno);
    becomeIdentity(id);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) fatal("prctl(PR_SET_KEEPCAPS, 0)", errno);
  }
  setCapabilities(CAP_NET_BIND_SERVICE);
  lockDown();
}

}  // namespace udpx::privsep

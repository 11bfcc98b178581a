// Detecting a secure start and leaving the caller's mixed credentials (see secure_start.h).
// Runs in: the process a user started.
#include "privsep/secure_start.h"

#include <grp.h>
#include <sys/auxv.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/log.h"

namespace udpx::privsep {
namespace {

[[noreturn]] void fatal(const std::string& what, int err) {
  LOG_ERROR("secure start: %s: %s — udpx stops", what.c_str(), strerror(err));
  std::_Exit(1);
}

[[noreturn]] void fatal(const std::string& what) {
  LOG_ERROR("secure start: %s — udpx stops", what.c_str());
  std::_Exit(1);
}

bool idsAre(uid_t uid, gid_t gid) {
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  return getresuid(&ru, &eu, &su) == 0 && getresgid(&rg, &eg, &sg) == 0 && ru == uid && eu == uid && su == uid &&
         rg == gid && eg == gid && sg == gid;
}

}  // namespace

SecureStart detectSecureStart() {
  SecureStart s;
  s.caller_uid = getuid();
  s.caller_gid = getgid();
  s.active = getauxval(AT_SECURE) != 0 && s.caller_uid != 0;
  s.setuid_root = s.active && geteuid() == 0;
  return s;
}

void becomeRoot() {
  if (setgroups(0, nullptr) != 0) fatal("setgroups(0)", errno);
  if (setresgid(0, 0, 0) != 0) fatal("setresgid(0, 0, 0)", errno);
  if (setresuid(0, 0, 0) != 0) fatal("setresuid(0, 0, 0)", errno);
  if (!idsAre(0, 0) || getgroups(0, nullptr) != 0) fatal("the ids are not all root after setresuid(0, 0, 0)");
}

void becomeCaller(const SecureStart& s) {
  // NOTE: the group first, while the effective uid may still be root; the supplementary groups
  // are the caller's own and stay.
  if (setresgid(s.caller_gid, s.caller_gid, s.caller_gid) != 0) fatal("setresgid to the caller's group", errno);
  if (setresuid(s.caller_uid, s.caller_uid, s.caller_uid) != 0) fatal("setresuid to the caller's user", errno);
  if (!idsAre(s.caller_uid, s.caller_gid)) fatal("the ids are not all the caller's after setresuid");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    fatal("clearing the ambient capabilities", errno);
  }
  cap_t none = cap_init();
  if (none == nullptr) fatal("cap_init", errno);
  const bool set = cap_set_proc(none) == 0;
  const int err = errno;
  cap_free(none);
  if (!set) fatal("clearing every capability (capset)", err);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fatal("prctl(PR_SET_NO_NEW_PRIVS)", errno);
}

}  // namespace udpx::privsep

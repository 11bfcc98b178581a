// Secure start (issue 16): udpx installed setuid root or with file capabilities and started by an
// ordinary user. Detecting it, and the two ways out of the caller's credentials: becoming root
// wholly (setuid root, so the normal root start runs) or becoming the caller wholly.
// Runs in: the process a user started, before anything else is read (src/main.cpp).
#pragma once

#include <sys/types.h>

namespace udpx::privsep {

struct SecureStart {
  bool active = false;       // the kernel set AT_SECURE and the real uid is not root
  bool setuid_root = false;  // the effective uid is root (the set-user-ID bit); else file capabilities or setgid
  uid_t caller_uid = 0;      // the real ids: the user who started udpx
  gid_t caller_gid = 0;
};

// getauxval(AT_SECURE): the kernel says this exec gained privilege (set-user-ID or set-group-ID
// bits, file capabilities). Started by root, nothing is gained from the caller, so it is inactive.
SecureStart detectSecureStart();

// setuid-root start, once the trusted config is read: real, effective and saved user and group
// ids become 0, the caller's supplementary groups go. From here udpx is an ordinary root start
// (the binder drops to global.user, the worker is sandboxed), and the caller can no longer
// signal it (kill(2) matches the sender's ids against the target's real and saved uid). Fatal on failure.
void becomeRoot();

// Status, reload and a worker started by hand: every id becomes the caller's, every capability
// goes, no_new_privs. Fatal on failure.
void becomeCaller(const SecureStart& s);

}  // namespace udpx::privsep

// The worker's sandbox: a seccomp allowlist of exactly the system calls the running event loop
// makes, and the test-only hooks that prove the sandbox and the privilege drop hold.
// Runs in: the worker (and udpx started without privilege, which sandboxes itself the same way).
#pragma once

#include <string>

namespace udpx::privsep {

// Installs the seccomp filter (libseccomp; default action: kill the process, which the binder
// reports as SIGSYS). Call after every file and privileged operation is done (Runtime::prepare,
// the privilege drop, chroot) and right before Runtime::run. Fatal on failure.
// `read_files`: udpx runs as one unprivileged process and reads its configuration file itself
// on SIGHUP (issue 12): openat(2) is allowed with exactly O_RDONLY|O_CLOEXEC relative to the
// working directory — read-only, no creating, no writing (docs/ARCHITECTURE.md, "Processes").
// The worker of a binder never gets it: its binder reads the file.
void enterSandbox(bool read_files = false);

// Test-only hooks, chosen by the environment variable UDPX_TEST_HOOK, read once when the worker
// starts (nothing reads it later, nothing on the network can set it). The environment is set by whoever starts udpx — root or
// the service manager — so neither the network nor an unprivileged user can reach them:
//   selfcheck          after the drop, log the result of setuid(0) and setgid(0); inside the
//                      sandbox, of bind() to 127.0.0.1:1 (port below 1024)
//   forbidden-syscall  inside the sandbox, call openat(2), which the allowlist refuses: the
//                      kernel kills the worker with SIGSYS
enum class TestHook { None, SelfCheck, ForbiddenSyscall };
TestHook takeTestHook();
// Runs the part of `hook` that belongs after the privilege drop and before the sandbox.
void runHookBeforeSandbox(TestHook hook);
// Runs the part of `hook` that belongs inside the sandbox (before the loop starts).
void runHookInSandbox(TestHook hook);

}  // namespace udpx::privsep

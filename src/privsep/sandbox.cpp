// The seccomp allowlist (libseccomp) and the test-only hooks.
// Runs in: the worker (or the single unprivileged process).
#include "privsep/sandbox.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string_view>

#include "base/log.h"

namespace udpx::privsep {
namespace {

[[noreturn]] void fatal(const char* what, int err) {
  LOG_ERROR("cannot enter the sandbox: %s: %s — udpx stops rather than run unconfined", what, strerror(err));
  std::_Exit(1);
}

// System calls allowed without conditions, grouped by who needs them. Found by running the
// end-to-end tests with udpx under `strace -D -f -ff` and listing what each sandboxed process
// called after seccomp(). The proxy alone: epoll_ctl epoll_wait recvmmsg sendmmsg recvfrom
// sendto socket connect close read write rt_sigaction rt_sigreturn getpid brk munmap
// exit_group. With metrics, status socket, health probes and evdns (merged since): also
// accept4 ioctl(FIONREAD) readv writev shutdown getrandom getdents64 pread64 lseek getrusage
// prlimit64 futex. The rest covers paths tests cannot reach (malloc growth, abort, restarted
// calls, vDSO fallbacks) or is named in its group. Anything else kills the process; the binder
// reports it as SIGSYS.
constexpr std::string_view kAllowed[] = {
    // libevent's loop (epoll backend) and its signal handling (a pipe its handler writes to).
    "epoll_wait", "epoll_pwait", "epoll_ctl", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "restart_syscall",
    "read", "write",
    // The data path: batched receive and send on the listeners; one connected socket per session
    // (socket() is restricted below), one datagram at a time upstream.
    "recvmmsg", "sendmmsg", "recvfrom", "sendto", "connect", "close",
    // (sendto also carries systemd's notifications: READY=1, STATUS=, WATCHDOG=1 on the unix
    // socket net/service_notify.h connected before the sandbox.)
    // Time (normally answered by the vDSO without a system call), the pid in log lines.
    "clock_gettime", "gettimeofday", "getpid",
    // Memory: malloc and free (mmap and mprotect are restricted below: never executable).
    "brk", "munmap", "mremap", "madvise",
    // Locks in libstdc++ and prometheus-cpp (the metrics' registry): one thread, never contended,
    // yet glibc may still issue a futex call.
    "futex",
    // The monitoring and health parts, which prepare their sockets and files before the
    // sandbox: metrics (evhttp) and status listeners (accept4, readv/writev, shutdown, FIONREAD
    // below), process metrics from /proc/self files opened earlier (pread64, lseek, getdents64,
    // getrusage; the open-files limit is read by prlimit64 below), health probes and evdns
    // (getrandom for transaction ids). No test reaches fcntl, the socket options, getsockname,
    // getpeername or bind inside the sandbox today; they are kept for libevent's and evdns's
    // error paths and source-address binding. Trim them with evidence (strace under load).
    "accept4", "fcntl", "setsockopt", "getsockopt", "getsockname", "getpeername", "bind", "readv", "writev",
    "shutdown",
    // A reload binds new listening sockets on the loop: UDP listeners (socket, bind above) and
    // a moved metrics endpoint (TCP: listen).
    "listen",
    // TCP relaying (dataplane/tcp_relay.h): accepted connections (accept4, above) move their
    // bytes kernel to kernel through a pipe per direction (pipe2, splice; send/recv where splice
    // is refused are sendto/recvfrom above), and pass end of file on (shutdown, above).
    "pipe2", "splice",
    // Reloads (issue 12): the worker's messages with the binder (sockets arrive by SCM_RIGHTS).
    "recvmsg", "sendmsg",
    // A reload moving the status socket to a file: the file's mode 0666 comes from the umask
    // around its bind (status/status_socket.cpp), since chmod takes a path.
    "umask",
    "pread64", "lseek", "getdents64", "getrusage", "getrandom",
    // Leaving.
    "exit", "exit_group",
};

void allow(scmp_filter_ctx ctx, const char* name, unsigned count = 0, const scmp_arg_cmp* args = nullptr) {
  const int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) {
    LOG_ERROR("cannot enter the sandbox: unknown system call %s on this architecture", name);
    std::_Exit(1);
  }
  const int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, count, args);
  if (rc != 0) fatal(name, -rc);
}

}  // namespace

void enterSandbox(bool read_files) {
  // NOTE: glibc loads lazily what the loop will need; load it now, while files can be opened.
  // The first gmtime_r (log timestamps) reads /etc/localtime via tzset, even for UTC.
  {
    const time_t t = 0;
    tm out{};
    gmtime_r(&t, &out);
  }
  // Whether fd 2 is the journal is found with fstat, which the filter refuses: decide it now
  // (a worker whose first line came after the filter was killed by SIGSYS under systemd).
  prepareLogging();
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
  if (ctx == nullptr) fatal("seccomp_init", ENOMEM);
  // Another architecture's system call numbers (int 0x80, x32) are refused outright.
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc != 0) fatal("seccomp_attr_set(BADARCH)", -rc);
  for (std::string_view name : kAllowed) allow(ctx, std::string(name).c_str());

  // New sockets: IPv4/IPv6 (upstream sessions, resolver, probes) and AF_UNIX (status socket).
  // No raw, netlink or packet sockets.
  for (int domain : {AF_INET, AF_INET6, AF_UNIX}) {
    const scmp_arg_cmp a[] = {SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(domain))};
    allow(ctx, "socket", 1, a);
  }
  // Memory may be mapped, never made executable: no injected code can be run.
  {
    const scmp_arg_cmp a[] = {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)};
    allow(ctx, "mmap", 1, a);
    allow(ctx, "mprotect", 1, a);
  }
  // ioctl only to ask how many bytes wait on a socket (libevent's buffered reads).
  {
    const scmp_arg_cmp a[] = {SCMP_A1(SCMP_CMP_EQ, static_cast<scmp_datum_t>(FIONREAD))};
    allow(ctx, "ioctl", 1, a);
  }
  // Resource limits may be read (the metrics' open-files limit), never set: new_limit is NULL.
  {
    const scmp_arg_cmp a[] = {SCMP_A2(SCMP_CMP_EQ, 0)};
    allow(ctx, "prlimit64", 1, a);
  }
  // abort() signals its own process only.
  {
    const scmp_arg_cmp a[] = {SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(getpid()))};
    allow(ctx, "tgkill", 1, a);
  }
  // The one-process mode's SIGHUP reads the configuration file: one open, read-only. The
  // path cannot be checked (seccomp sees a pointer), so this lets a subverted process read what
  // its user may read, and nothing more: no O_WRONLY, O_RDWR, O_CREAT, O_PATH, other flags.
  // Only the low 32 bits are compared: both arguments are ints.
  if (read_files) {
    const scmp_arg_cmp a[] = {
        SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffU, static_cast<scmp_datum_t>(static_cast<std::uint32_t>(AT_FDCWD))),
        SCMP_A2(SCMP_CMP_MASKED_EQ, 0xffffffffU, static_cast<scmp_datum_t>(O_RDONLY | O_CLOEXEC))};
    allow(ctx, "openat", 2, a);
  }
  rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) fatal("seccomp_load", -rc);
}

TestHook takeTestHook() {
  const char* v = std::getenv("UDPX_TEST_HOOK");
  TestHook hook = TestHook::None;
  if (v != nullptr) {
    const std::string_view s(v);
    if (s == "selfcheck") hook = TestHook::SelfCheck;
    if (s == "forbidden-syscall") hook = TestHook::ForbiddenSyscall;
    if (hook == TestHook::None) LOG_WARN("UDPX_TEST_HOOK=\"%s\" is not a test hook; ignored", v);
  }
  return hook;
}

void runHookBeforeSandbox(TestHook hook) {
  if (hook != TestHook::SelfCheck) return;
  errno = 0;
  const int u = setuid(0);
  const int ue = errno;
  errno = 0;
  const int g = setgid(0);
  const int ge = errno;
  LOG_WARN("test hook selfcheck: setuid(0) = %d (%s), setgid(0) = %d (%s)", u, u == 0 ? "succeeded" : strerror(ue), g,
           g == 0 ? "succeeded" : strerror(ge));
}

void runHookInSandbox(TestHook hook) {
  if (hook == TestHook::SelfCheck) {
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(1);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    errno = 0;
    const int rc = fd < 0 ? -1 : bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    const int e = errno;
    if (fd >= 0) close(fd);
    LOG_WARN("test hook selfcheck: bind(127.0.0.1:1) = %d (%s)", rc, rc == 0 ? "succeeded" : strerror(e));
  }
  if (hook == TestHook::ForbiddenSyscall) {
    // O_RDWR: forbidden in every mode (the one-process mode may open read-only).
    LOG_WARN("test hook forbidden-syscall: calling openat(2), which the sandbox forbids");
    const int fd = openat(AT_FDCWD, "/", O_RDWR | O_CLOEXEC);
    LOG_ERROR("test hook forbidden-syscall: openat returned %d — the sandbox did NOT stop it", fd);
    std::_Exit(3);
  }
}

}  // namespace udpx::privsep

// The binder's process: start the worker, hand over, drop privilege, supervise.
// Runs in: the binder.
#include "privsep/binder.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/clock.h"
#include "base/log.h"
#include "privsep/fdpass.h"

extern char** environ;

namespace udpx::privsep {
namespace {

constexpr int kWorkerFd = 3;           // the worker's end of the socketpair, after exec
constexpr int kMaxRestarts = 3;        // restarts in a row before the binder gives up
constexpr auto kStableRun = std::chrono::seconds(60);  // a worker that ran this long resets the count
constexpr auto kRestartDelay = std::chrono::seconds(1);

const int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1};

struct Worker {
  pid_t pid = -1;
  UniqueFd sock;  // the binder's end; the worker sees end of file when the binder dies
  TimePoint started;
};

std::string signalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  const char* desc = sigdescr_np(sig);
  std::string out = abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
  if (desc) out += std::string(" (") + desc + ")";
  return out;
}

// In the child between fork and exec: only async-signal-safe calls.
[[noreturn]] void childFailed(const char* msg) {
  ssize_t ignored = write(STDERR_FILENO, msg, std::strlen(msg));
  (void)ignored;
  _exit(127);
}

[[noreturn]] void execWorker(int sock, int exe, const std::vector<const char*>& argv) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // The worker must never outlive the binder (it re-arms this after its own privilege drop,
  // which clears it).
  prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
  // Move both out of the way of 3 and 4 first (NOTE: low numbers: RLIMIT_NOFILE may be tiny).
  const int exe_fd = kWorkerFd + 1;
  const int s = fcntl(sock, F_DUPFD, exe_fd + 1);
  const int e = fcntl(exe, F_DUPFD_CLOEXEC, exe_fd + 1);
  if (s < 0 || e < 0 || dup2(s, kWorkerFd) != kWorkerFd || dup3(e, exe_fd, O_CLOEXEC) != exe_fd) {
    childFailed("udpx: binder: cannot start the worker: no free file descriptors (raise RLIMIT_NOFILE)\n");
  }
  // Nothing else crosses into the worker: not the listening sockets (they arrive by SCM_RIGHTS),
  // not whatever the binder inherited.
  syscall(SYS_close_range, exe_fd + 1, ~0U, 0);
  syscall(SYS_execveat, exe_fd, "", const_cast<char* const*>(argv.data()), environ, AT_EMPTY_PATH);
  childFailed("udpx: binder: cannot start the worker: execveat of /proc/self/exe failed\n");
}

bool startWorker(const BinderPlan& plan, int exe, Worker& w) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    LOG_ERROR("binder: cannot create the socketpair for the worker: %s", strerror(errno));
    return false;
  }
  UniqueFd mine(sv[0]), theirs(sv[1]);
  std::string fd_text = std::to_string(kWorkerFd);
  std::vector<const char*> argv = {"udpx", "--worker-fd", fd_text.c_str()};
  for (const std::string& a : plan.worker_args) argv.push_back(a.c_str());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    LOG_ERROR("binder: cannot start the worker: fork: %s", strerror(errno));
    return false;
  }
  if (pid == 0) execWorker(theirs.get(), exe, argv);
  theirs.reset();
  std::vector<int> fds;
  for (const UniqueFd& l : plan.listeners) fds.push_back(l.get());
  std::string error;
  if (!sendHandover(mine.get(), plan.config_name, plan.config_text, plan.identity.uid, plan.identity.gid, fds,
                    error)) {
    // Closing our end gives the worker end of file instead; its exit is reported as usual.
    LOG_ERROR("binder: cannot hand the sockets to the worker: %s", error.c_str());
    mine.reset();
  }
  w.pid = pid;
  w.sock = std::move(mine);
  w.started = Clock::now();
  return true;
}

}  // namespace

std::string describeWorkerEnd(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (!WIFSIGNALED(status)) return "ended with wait status " + std::to_string(status);
  const int sig = WTERMSIG(status);
  if (sig == SIGSYS) {
    return "was killed by SIGSYS: the sandbox killed the worker: a system call outside the seccomp allowlist "
           "(src/privsep/sandbox.cpp) — a bug in udpx or an attack; the kernel log names the call "
           "(journalctl -k | grep 'type=1326', syscall=N), please report it";
  }
  return "was killed by " + signalName(sig) + (WCOREDUMP(status) ? ", core dumped" : "");
}

int runBinder(BinderPlan plan) {
  // Block the signals the binder handles so they queue for sigtimedwait: no handlers, no races
  // between a signal and the worker's death.
  sigset_t handled;
  sigemptyset(&handled);
  for (int s : kForwarded) sigaddset(&handled, s);
  sigaddset(&handled, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &handled, nullptr) != 0) {
    LOG_ERROR("binder: sigprocmask: %s", strerror(errno));
    return 1;
  }
  std::string error;
  if (!handoverFits(plan.config_text.size(), plan.listeners.size(), error)) {
    LOG_ERROR("binder: %s", error.c_str());
    return 1;
  }
  // The worker is this very binary, reached through a descriptor so a replaced file on disk (an
  // upgrade) cannot mix versions, and exec works after the privilege drop.
  UniqueFd exe(open("/proc/self/exe", O_PATH | O_CLOEXEC));
  if (!exe.valid()) {
    LOG_ERROR("binder: cannot open /proc/self/exe to start the worker: %s — is /proc mounted?", strerror(errno));
    return 1;
  }
  Worker w;
  if (!startWorker(plan, exe.get(), w)) return 1;
  dropKeepingBindService(plan.identity, plan.change_identity);
  LOG_INFO("binder: worker started (pid %d); binder now runs as %s:%s (uid %u, gid %u) keeping only "
           "CAP_NET_BIND_SERVICE",
           static_cast<int>(w.pid), plan.identity.user.c_str(), plan.identity.group.c_str(),
           static_cast<unsigned>(getuid()), static_cast<unsigned>(getgid()));

  bool stopping = false;
  int restarts = 0;
  int pending = 0;  // a signal kill() refused: the new worker was still root; retried each second
  bool restart_pending = false;
  TimePoint restart_at{};
  for (;;) {
    timespec timeout{1, 0};
    if (restart_pending) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(restart_at - Clock::now());
      const long ms = std::max<long>(0, static_cast<long>(left.count()));
      timeout = timespec{ms / 1000, (ms % 1000) * 1000000};
    }
    if (pending != 0 && w.pid > 0 && kill(w.pid, pending) == 0) pending = 0;
    siginfo_t info{};
    const int sig = sigtimedwait(&handled, &info, &timeout);
    if (sig < 0) {
      if (errno != EAGAIN && errno != EINTR) {
        LOG_ERROR("binder: sigtimedwait: %s", strerror(errno));
        return 1;
      }
      if (restart_pending && Clock::now() >= restart_at) {
        restart_pending = false;
        if (!startWorker(plan, exe.get(), w)) return 1;
        LOG_WARN("binder: worker restarted (pid %d), restart %d of at most %d in a row", static_cast<int>(w.pid),
                 restarts, kMaxRestarts);
      }
      continue;
    }
    if (sig != SIGCHLD) {
      if (sig == SIGTERM || sig == SIGINT) stopping = true;
      if (w.pid > 0) {
        if (kill(w.pid, sig) != 0) pending = sig;
      } else if (stopping) {
        LOG_INFO("binder: %s while no worker runs; stopping", signalName(sig).c_str());
        return 1;
      }
      continue;
    }
    int status = 0;
    pid_t done;
    while ((done = waitpid(-1, &status, WNOHANG)) > 0) {
      if (done != w.pid) continue;
      w.pid = -1;
      w.sock.reset();
      const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (clean || stopping) {
        if (clean) {
          LOG_INFO("binder: worker exited with status 0; stopping");
        } else {
          LOG_ERROR("binder: worker %s; stopping", describeWorkerEnd(status).c_str());
        }
        return clean ? 0 : 1;
      }
      LOG_ERROR("binder: worker %s", describeWorkerEnd(status).c_str());
      if (Clock::now() - w.started >= kStableRun) restarts = 0;
      if (!plan.restart) {
        LOG_ERROR("binder: not restarting the worker (global.chroot is set: only root can start a worker that "
                  "chroots); stopping — the service manager may restart udpx");
        return 1;
      }
      if (restarts >= kMaxRestarts) {
        LOG_ERROR("binder: the worker died %d times in a row, each within %lld s of starting; giving up", restarts + 1,
                  static_cast<long long>(kStableRun.count()));
        return 1;
      }
      ++restarts;
      restart_pending = true;
      restart_at = Clock::now() + kRestartDelay;
    }
  }
}

}  // namespace udpx::privsep

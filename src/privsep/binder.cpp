// The binder's process: start the worker, hand over, drop privilege, supervise.
// Runs in: the binder.
#include "privsep/binder.h"

#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <optional>

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
  bool sock_closed = false;  // end of file seen: nothing more to read until SIGCHLD
  TimePoint started;
};

// Reloads, one at a time: the config the worker serves (what a restarted worker gets), the
// reload handed to the worker and not answered yet, and the asks waiting for their turn.
struct Reloads {
  ReloadSource source;
  std::string config_name;
  std::string text;
  std::vector<ServedListener> served;
  std::string status;  // the worker's status endpoint; its socket file is removed at the end
  std::optional<BinderReload> inflight;
  std::uint32_t inflight_id = 0;
  std::deque<std::uint32_t> queued;  // ask ids; 0: SIGHUP reached the binder
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

bool startWorker(const BinderPlan& plan, const Reloads& r, int exe, Worker& w) {
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
  for (const ServedListener& l : r.served) fds.push_back(l.fd.get());
  std::string error;
  if (!sendHandover(mine.get(), r.config_name, r.text, plan.identity.uid, plan.identity.gid, fds, error)) {
    // Closing our end gives the worker end of file instead; its exit is reported as usual.
    LOG_ERROR("binder: cannot hand the sockets to the worker: %s", error.c_str());
    mine.reset();
  }
  w.pid = pid;
  w.sock = std::move(mine);
  w.sock_closed = !w.sock.valid();
  w.started = Clock::now();
  return true;
}

// Hands the next queued reload to the worker, when none is in flight and a worker listens.
void startNextReload(Reloads& r, Worker& w) {
  if (r.inflight || r.queued.empty() || w.pid <= 0 || !w.sock.valid() || w.sock_closed) return;
  const std::uint32_t id = r.queued.front();
  r.queued.pop_front();
  BinderReload next = readAndBind(r.source, r.served);
  LinkMessage order;
  order.kind = LinkKind::Order;
  order.id = id;
  order.name = r.config_name;
  order.text = next.text;
  order.lines = next.errors;
  std::vector<int> fds;
  for (const ServedListener& l : next.fresh) fds.push_back(l.fd.get());
  if (next.status_fd.valid()) fds.push_back(next.status_fd.get());
  std::string error;
  const bool sent = sendLinkMessage(w.sock.get(), order, fds, error);
  // The worker has its own copy now: the file goes when the worker's socket does.
  next.status_fd.reset();
  if (!sent) {
    LOG_ERROR("binder: cannot hand the reload of %s to the worker: %s", r.config_name.c_str(), error.c_str());
    forgetStatusFile(next.status);
    return;
  }
  LOG_DEBUG("binder: reload of %s handed to the worker: %zu new sockets, %zu problems", r.config_name.c_str(),
            next.fresh.size(), next.errors.size());
  r.inflight = std::move(next);
  r.inflight_id = id;
}

// One message from the worker: an ask to reload, or the outcome of the reload in flight.
void onWorkerMessage(Reloads& r, Worker& w) {
  std::string error;
  std::optional<LinkMessage> m = receiveLinkMessage(w.sock.get(), error);
  if (!m) {
    if (error.find("closed") != std::string::npos || error.rfind("recvmsg:", 0) == 0) {
      w.sock_closed = true;  // the worker is ending; SIGCHLD follows
      return;
    }
    LOG_ERROR("binder: unexpected message from the worker, ignored: %s", error.c_str());
    return;
  }
  if (m->kind == LinkKind::Ask) {
    r.queued.push_back(m->id);
  } else if (m->kind == LinkKind::Done && r.inflight && m->id == r.inflight_id) {
    if (m->applied) {
      r.served = servedAfter(std::move(r.served), *r.inflight);
      r.text = std::move(r.inflight->text);
      if (r.inflight->status != r.status) {
        forgetStatusFile(r.status);  // the worker stopped listening there before it answered
        r.status = r.inflight->status;
      }
      LOG_INFO("binder: the worker applied %s: %s", r.config_name.c_str(), m->summary.c_str());
    } else {
      LOG_WARN("binder: the worker refused %s (%zu errors); it keeps running the previous configuration",
               r.config_name.c_str(), m->lines.size());
      if (r.inflight->status != r.status) forgetStatusFile(r.inflight->status);
    }
    r.inflight.reset();
  } else {
    LOG_ERROR("binder: unexpected reload message (kind %u, id %u) from the worker, ignored",
              static_cast<unsigned>(m->kind), static_cast<unsigned>(m->id));
  }
  startNextReload(r, w);
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
  // Block the signals the binder handles so they queue for its signalfd: no handlers, no races
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
  Reloads r;
  // However the binder ends from here, the worker's socket file goes with it.
  struct StatusFileCleanup {
    const std::string& path;
    ~StatusFileCleanup() { forgetStatusFile(path); }
  } cleanup{r.status};
  r.status = plan.reload.status_default;
  r.source = plan.reload;
  r.config_name = plan.config_name;
  r.text = std::move(plan.config_text);
  for (std::size_t i = 0; i < plan.listeners.size(); ++i) {
    const ListenEndpoint e = i < plan.listen.size() ? plan.listen[i] : ListenEndpoint{};
    r.served.push_back(ServedListener{e.addr, std::move(plan.listeners[i]), e.transport});
  }
  // The signals arrive on a descriptor, so one poll() waits for them and for the worker's messages.
  UniqueFd sigfd(signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sigfd.valid()) {
    LOG_ERROR("binder: signalfd: %s", strerror(errno));
    return 1;
  }
  Worker w;
  if (!startWorker(plan, r, exe.get(), w)) return 1;
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
    int timeout_ms = 1000;
    if (restart_pending) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(restart_at - Clock::now());
      timeout_ms = static_cast<int>(std::clamp<long>(static_cast<long>(left.count()), 0, 1000));
    }
    if (pending != 0 && w.pid > 0 && kill(w.pid, pending) == 0) pending = 0;
    const bool watch_worker = w.pid > 0 && w.sock.valid() && !w.sock_closed;
    pollfd fds[2] = {{sigfd.get(), POLLIN, 0}, {watch_worker ? w.sock.get() : -1, POLLIN, 0}};
    const int ready = poll(fds, 2, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      LOG_ERROR("binder: poll: %s", strerror(errno));
      return 1;
    }
    if (restart_pending && Clock::now() >= restart_at) {
      restart_pending = false;
      if (!startWorker(plan, r, exe.get(), w)) return 1;
      LOG_WARN("binder: worker restarted (pid %d), restart %d of at most %d in a row", static_cast<int>(w.pid),
               restarts, kMaxRestarts);
      startNextReload(r, w);
    }
    if (ready <= 0) continue;
    if (watch_worker && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) onWorkerMessage(r, w);
    if ((fds[0].revents & POLLIN) == 0) continue;
    signalfd_siginfo info{};
    if (::read(sigfd.get(), &info, sizeof info) != static_cast<ssize_t>(sizeof info)) continue;
    const int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGHUP) {
      LOG_INFO("binder: SIGHUP: reloading %s", r.config_name.c_str());
      r.queued.push_back(0);
      startNextReload(r, w);
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
      // A reload the worker did not answer is dropped with it (its sockets close); asks from the
      // worker die with it, a SIGHUP to the binder is carried out by the next worker.
      if (r.inflight) {
        LOG_WARN("binder: the worker ended during a reload of %s; the next worker gets the configuration before it",
                 r.config_name.c_str());
        if (r.inflight->status != r.status) forgetStatusFile(r.inflight->status);
        r.inflight.reset();
      }
      std::erase_if(r.queued, [](std::uint32_t id) { return id != 0; });
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

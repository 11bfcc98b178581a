// Serving: the worker's start (its handover from the binder), and the steps the worker and a
// single unprivileged udpx share: build the runtime, shed privilege, close the sandbox, run.
// Runs in: the worker, or udpx started without privilege.
#include <sys/prctl.h>
#include <sys/resource.h>

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>

#include "app/modes.h"
#include "app/runtime.h"
#include "base/log.h"
#include "net/event_log.h"
#include "privsep/fdpass.h"
#include "privsep/sandbox.h"

// Tools that cannot run inside the seccomp sandbox: valgrind (its own system calls) and
// AddressSanitizer's leak check at exit (clone, ptrace, /proc). Under them the worker drops
// privilege all the same but skips seccomp, and says so.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitizerBuild = true;
#else
constexpr bool kSanitizerBuild = false;
#endif
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UDPX_UNDER_VALGRIND() RUNNING_ON_VALGRIND
#else
#define UDPX_UNDER_VALGRIND() 0
#endif

namespace udpx {
namespace {

// Descriptors beyond the sessions: stdio, the loop, listeners, status and metrics with their
// connections, probes, the resolver, /proc files.
constexpr rlim_t kFdsBesidesSessions = 128;

// Raises the soft open-files limit to the hard one, and says so when even the hard limit is
// below what the config may need: a socket per session on the per-session frontends,
// upstream_pool_sockets per server on the shared ones, two per TCP connection.
void raiseOpenFilesLimit(const Config& cfg) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised{lim.rlim_max, lim.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  std::uint64_t per_session = 0, pool = 0, tcp = 0;
  for (const FrontendConfig& f : cfg.frontends) {
    if (f.upstream_sockets == UpstreamSocketsMode::PerSession) {
      per_session += f.max_sessions;
    } else {
      for (const BackendConfig& b : cfg.backends) {
        if (b.name == f.backend) pool += std::uint64_t{f.upstream_pool_sockets} * b.servers.size();
      }
    }
    // A connection holds the client's socket and the server's (and a pipe while bulk data flows).
    if (f.tcp) tcp += 2 * std::uint64_t{f.tcp_max_connections};
  }
  const std::uint64_t sessions = std::min<std::uint64_t>(per_session, cfg.global.max_sessions);
  const std::uint64_t needed = sessions + pool + tcp + kFdsBesidesSessions;
  if (lim.rlim_cur == RLIM_INFINITY || lim.rlim_cur >= needed) return;
  LOG_WARN("the open files limit is %llu, but this config may need about %llu descriptors: %llu sessions with "
           "their own socket (upstream_sockets = \"per-session\", bounded by global.max_sessions), %llu shared "
           "pool sockets (upstream_pool_sockets per server), %llu for TCP connections (tcp_max_connections, 2 "
           "each) and %llu for the rest — beyond the limit new sessions fail (counted as socket_error) and new TCP "
           "connections wait to be accepted; raise the limit (LimitNOFILE= in the unit, ulimit -Hn) or lower those keys",
           static_cast<unsigned long long>(lim.rlim_cur), static_cast<unsigned long long>(needed),
           static_cast<unsigned long long>(sessions), static_cast<unsigned long long>(pool),
           static_cast<unsigned long long>(tcp), static_cast<unsigned long long>(kFdsBesidesSessions));
}

}  // namespace

int serve(const Config& cfg, std::vector<UniqueFd> listeners, UniqueFd binder, const privsep::Identity* drop_to,
          const std::string& inherited) {
  const privsep::TestHook hook = privsep::takeTestHook();
  routeLibeventLogs();
  raiseOpenFilesLimit(cfg);
  Runtime rt(cfg);
  std::vector<std::string> errors;
  if (!rt.adoptListeners(std::move(listeners), errors)) return reportStartErrors(errors, "listener problem");
  if (binder.valid()) {
    rt.stopWhenClosed(std::move(binder), "binder");
    rt.reloadThroughBinder();
  }
  // One process with a file: SIGHUP reads it here (the sandbox below allows that one open).
  const bool self_reload = !binder.valid() && drop_to == nullptr && cfg.file != kCommandLineConfigName;
  if (self_reload) rt.reloadOnSighupBySelf();
  if (!inherited.empty()) {
    rt.refuseBindingNewListeners("udpx takes its listening sockets from " + inherited +
                                 ", which it cannot ask for more: add the address there (ListenDatagram= in the "
                                 ".socket unit, or --listen-fd) and restart udpx");
  }
  rt.prepare();

  if (drop_to != nullptr && !cfg.fixed.chroot.empty()) privsep::enterChroot(cfg.fixed.chroot);
  // A worker restarted by the (already unprivileged) binder starts as the target user, and one
  // started by a binder that only had CAP_NET_BIND_SERVICE keeps that binder's user: only a
  // worker that can switch does.
  const bool change = drop_to != nullptr && privsep::canChangeIdentity();
  privsep::dropEverything(drop_to != nullptr ? *drop_to : privsep::Identity{}, change);
  rt.allowReloadsFrom(getuid());
  // NOTE: the parent-death signal is cleared by every credential change: arm it afterwards.
  if (binder.valid() || drop_to != nullptr) prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
  privsep::runHookBeforeSandbox(hook);
  if (UDPX_UNDER_VALGRIND()) {
    LOG_WARN("running under valgrind: the seccomp sandbox is skipped (valgrind's own system calls would be killed)");
  } else if (kSanitizerBuild) {
    LOG_WARN("AddressSanitizer build: the seccomp sandbox is skipped (the leak check at exit needs clone, ptrace "
             "and /proc)");
    privsep::allowLeakCheck();
  } else {
    privsep::enterSandbox(self_reload);
  }
  privsep::runHookInSandbox(hook);
  return rt.run();
}

int runWorker(int fd) {
  UniqueFd sock(fd);
  std::string error;
  std::optional<privsep::Handover> h = privsep::receiveHandover(sock.get(), error);
  if (!h) {
    LOG_ERROR("worker: no configuration from the binder: %s", error.c_str());
    return 1;
  }
  LoadResult loaded = loadConfigString(h->config_text, h->config_name);
  if (!loaded.errors.empty()) {
    printConfigErrors(loaded, false);
    return 1;
  }
  // The binder resolved global.user/global.group; the numbers it sent are used as they are.
  privsep::Identity id;
  id.uid = h->uid;
  id.gid = h->gid;
  return serve(*loaded.config, std::move(h->listeners), std::move(sock), &id, "");
}

}  // namespace udpx

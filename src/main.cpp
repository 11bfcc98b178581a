// udpx entry point: parse the command line, load and validate the config, then one of
//   binder  started with privilege: open the sockets, start the worker, drop (src/privsep/)
//   worker  --worker-fd N: receive config and sockets, drop everything, sandbox, run
//   single  started without privilege: take/open the sockets, sandbox itself, run
#include <sys/prctl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>

#include "app/cli.h"
#include "config/config.h"
#include "base/log.h"
#include "app/runtime.h"
#include "status/status_client.h"
#include "base/version.h"
#include "privsep/activation.h"
#include "privsep/binder.h"
#include "privsep/drop.h"
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

namespace {

using namespace udpx;

void printErrors(const LoadResult& loaded, bool one_line) {
  for (const ConfigError& e : loaded.errors) {
    if (one_line) {
      std::fprintf(stderr, "udpx: %s: %s%s\n", flagForPath(e.path).c_str(), e.message.c_str(),
                   e.hint.empty() ? "" : (" (" + e.hint + ")").c_str());
    } else {
      std::fprintf(stderr, "%s\n", e.format().c_str());
    }
  }
  std::fprintf(stderr, "udpx: %zu error%s in the configuration, nothing started\n", loaded.errors.size(),
               loaded.errors.size() == 1 ? "" : "s");
}

int reportStartErrors(const std::vector<std::string>& errors, const char* what) {
  for (const std::string& e : errors) LOG_ERROR("%s", e.c_str());
  LOG_ERROR("not started: %zu %s%s", errors.size(), what, errors.size() == 1 ? "" : "s");
  return 1;
}

// Worker and single mode alike, once the sockets are in hand: build the runtime, finish every
// privileged or file-touching step, shed privilege, close the sandbox, run.
int serve(const Config& cfg, std::vector<UniqueFd> listeners, UniqueFd binder, const privsep::Identity* drop_to) {
  const privsep::TestHook hook = privsep::takeTestHook();
  Runtime rt(cfg);
  std::vector<std::string> errors;
  if (!rt.adoptListeners(std::move(listeners), errors)) return reportStartErrors(errors, "listener problem");
  if (binder.valid()) rt.stopWhenClosed(std::move(binder), "binder");
  rt.prepare();

  if (drop_to != nullptr && !cfg.fixed.chroot.empty()) privsep::enterChroot(cfg.fixed.chroot);
  // A worker restarted by the (already unprivileged) binder starts as the target user, and one
  // started by a binder that only had CAP_NET_BIND_SERVICE keeps that binder's user: only a
  // worker that can switch does.
  const bool change = drop_to != nullptr && privsep::canChangeIdentity();
  privsep::dropEverything(drop_to != nullptr ? *drop_to : privsep::Identity{}, change);
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
    privsep::enterSandbox();
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
    printErrors(loaded, false);
    return 1;
  }
  // The binder resolved global.user/global.group; the numbers it sent are used as they are.
  privsep::Identity id;
  id.uid = h->uid;
  id.gid = h->gid;
  return serve(*loaded.config, std::move(h->listeners), std::move(sock), &id);
}

}  // namespace

int main(int argc, char** argv) {
  std::string error;
  std::optional<CliOptions> opt = parseCommandLine(argc, argv, error);
  if (!opt) {
    std::fprintf(stderr, "udpx: %s\n\n%s", error.c_str(), usageText());
    return 2;
  }
  if (opt->mode == CliOptions::Mode::Help) {
    std::fputs(usageText(), stdout);
    return 0;
  }
  if (opt->mode == CliOptions::Mode::Version) {
    std::printf("udpx %s\n", UDPX_VERSION);
    return 0;
  }
  if (opt->mode == CliOptions::Mode::Status) {
    return runStatusCommand(opt->config_path, opt->status_socket, opt->json);
  }
  std::optional<LogLevel> cli_level;
  if (opt->log_level) {
    cli_level = parseLogLevel(*opt->log_level);
    if (!cli_level) {
      std::fprintf(stderr, "udpx: --log-level: \"%s\" is not one of %s\n", opt->log_level->c_str(),
                   joinNames(enumNames(kLogLevelNames)).c_str());
      return 2;
    }
  }
  try {
    if (opt->worker_fd) {
      if (cli_level) setLogLevel(*cli_level);
      return runWorker(*opt->worker_fd);
    }

    LoadResult loaded = opt->one_line ? loadConfigString(oneLineConfig(*opt), kCommandLineConfigName)
                                      : loadConfigFile(opt->config_path);
    for (const ConfigError& w : loaded.warnings) {
      std::fprintf(stderr, "udpx: warning: %s\n", w.format().c_str());
    }
    if (!loaded.errors.empty()) {
      printErrors(loaded, opt->one_line);
      return 1;
    }
    if (opt->mode == CliOptions::Mode::Check) {
      // The accounts are checked too: a missing user would only show at startup otherwise.
      if (!loaded.config->fixed.user.empty() || !loaded.config->fixed.group.empty()) {
        if (!privsep::resolveIdentity(*loaded.config, error)) {
          std::fprintf(stderr, "%s\n", error.c_str());
          return 1;
        }
      }
      std::printf("configuration OK\n");
      return 0;
    }
    Config& cfg = *loaded.config;
    setLogLevel(cli_level.value_or(cfg.global.log_level));

    // Sockets handed in from outside, then whatever is left is bound here.
    std::vector<std::string> errors, notes;
    std::vector<privsep::InheritedSocket> inherited = privsep::takeSystemdSockets(errors);
    for (auto& s : privsep::takeListenFds(opt->listen_fds, errors)) inherited.push_back(std::move(s));
    if (!errors.empty()) return reportStartErrors(errors, "socket problem");

    const bool privileged = privsep::canBindPrivilegedPorts();
    const bool can_switch = privsep::canChangeIdentity();
    privsep::Identity id;
    if (can_switch) {
      auto resolved = privsep::resolveIdentity(cfg, error);
      if (!resolved) return reportStartErrors({error}, "account problem");
      id = *resolved;
    } else {
      // Started without root (perhaps with CAP_NET_BIND_SERVICE alone): udpx keeps its own user
      // and group, and cannot chroot.
      if (!cfg.fixed.chroot.empty()) {
        return reportStartErrors({"global.chroot is set, but only root can chroot — start udpx as root, or remove "
                                  "global.chroot"},
                                 "privilege problem");
      }
      // Looked up only when needed: a plain unprivileged start never touches the account
      // database (NSS), which keeps its pages out of the idle process.
      const bool account_set = !cfg.fixed.user.empty() || !cfg.fixed.group.empty();
      if (privileged || account_set) id = privsep::currentIdentity();
      if (account_set) {
        auto wanted = privsep::resolveIdentity(cfg, error);
        if (!wanted) return reportStartErrors({error}, "account problem");
        if (wanted->uid != id.uid || wanted->gid != id.gid) {
          return reportStartErrors({"udpx runs as " + id.user + ":" + id.group + " without the privilege to become " +
                                    wanted->user + ":" + wanted->group + " (global.user, global.group) — start it as "
                                    "root, or remove those keys"},
                                   "privilege problem");
        }
      }
    }
    if (!cfg.fixed.chroot.empty()) {
      std::string why;
      if (!privsep::checkChrootDir(cfg.fixed.chroot, why)) return reportStartErrors({why}, "chroot problem");
    }

    std::vector<UniqueFd> listeners = privsep::openListeners(cfg, std::move(inherited), errors, notes);
    for (const std::string& n : notes) LOG_WARN("%s", n.c_str());
    if (!errors.empty()) return reportStartErrors(errors, "listener problem");

    if (!privileged) {
      LOG_DEBUG("started without privilege: one process (no binder), sandboxed like a worker");
      return serve(cfg, std::move(listeners), UniqueFd(), nullptr);
    }
    privsep::BinderPlan plan;
    plan.config_name = loaded.config->file;
    plan.config_text = loaded.text;
    plan.listeners = std::move(listeners);
    plan.identity = id;
    plan.change_identity = can_switch;
    if (opt->log_level) plan.worker_args = {"--log-level", *opt->log_level};
    plan.restart = cfg.fixed.chroot.empty();
    return privsep::runBinder(std::move(plan));
  } catch (const std::exception& e) {
    LOG_ERROR("cannot start: %s", e.what());
    return 1;
  }
}

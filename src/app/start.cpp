// Starting udpx from a validated configuration: the check mode, the sockets from outside, the
// account to run as, the chroot check and the listening sockets; then the binder, or a single
// sandboxed process. Also how configuration and start-up problems are shown.
// Runs in: the process a person or the service manager started (it becomes the binder).
#include <cstdio>

#include "app/modes.h"
#include "base/log.h"
#include "privsep/activation.h"
#include "privsep/binder.h"
#include "privsep/runtime_dir.h"
#include "status/status_socket.h"
#include "privsep/fdpass.h"

namespace udpx {

// A file the loader accepts must fit the handover to the worker.
static_assert(privsep::kMaxConfigText >= kMaxConfigBytes);

namespace {

// Why the account udpx would run as cannot be used.
struct AccountProblem {
  std::string text;
};

// The account the binder and the worker run as. Without the privilege to switch, udpx keeps its
// own user and group, so global.user/global.group must name those (or be unset) and
// global.chroot must be unset. `privileged`: binding ports below 1024 (the binder needs an id).
std::optional<privsep::Identity> accountToRun(const Config& cfg, bool privileged, bool can_switch,
                                              AccountProblem& problem) {
  std::string error;
  if (can_switch) {
    auto resolved = privsep::resolveIdentity(cfg, error);
    if (!resolved) problem = {error};
    return resolved;
  }
  // Started without root (perhaps with CAP_NET_BIND_SERVICE alone): udpx keeps its own user
  // and group, and cannot chroot.
  if (!cfg.fixed.chroot.empty()) {
    problem = {"global.chroot is set, but only root can chroot — start udpx as root, or remove global.chroot"};
    return std::nullopt;
  }
  // Looked up only when needed: a plain unprivileged start never touches the account
  // database (NSS), which keeps its pages out of the idle process.
  privsep::Identity id;
  const bool account_set = !cfg.fixed.user.empty() || !cfg.fixed.group.empty();
  if (privileged || account_set) id = privsep::currentIdentity();
  if (account_set) {
    auto wanted = privsep::resolveIdentity(cfg, error);
    if (!wanted) {
      problem = {error};
      return std::nullopt;
    }
    if (wanted->uid != id.uid || wanted->gid != id.gid) {
      problem = {"udpx runs as " + id.user + ":" + id.group + " without the privilege to become " + wanted->user +
                     ":" + wanted->group + " (global.user, global.group) — start it as root, or remove those keys"};
      return std::nullopt;
    }
  }
  return id;
}

}  // namespace

void printConfigErrors(const LoadResult& loaded, bool one_line) {
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

bool acceptConfig(const LoadResult& loaded, bool one_line) {
  for (const ConfigError& w : loaded.warnings) {
    std::fprintf(stderr, "udpx: warning: %s\n", w.format().c_str());
  }
  if (loaded.errors.empty()) return true;
  printConfigErrors(loaded, one_line);
  return false;
}

int reportStartErrors(const std::vector<std::string>& errors, const char* what) {
  for (const std::string& e : errors) LOG_ERROR("%s", e.c_str());
  LOG_ERROR("not started: %zu %s%s", errors.size(), what, errors.size() == 1 ? "" : "s");
  return 1;
}

Preflight preflight(const LoadResult& loaded, bool privileged, bool can_switch) {
  const Config& cfg = *loaded.config;
  Preflight out;
  AccountProblem problem;
  out.identity = accountToRun(cfg, privileged, can_switch, problem);
  if (!out.identity) {
    out.errors.push_back(problem.text);
  } else if (can_switch && out.identity->shared_fallback) {
    out.warnings.push_back(privsep::sharedAccountWarning(*out.identity));
  }
  // Without the privilege to chroot, accountToRun has already refused global.chroot.
  if (!cfg.fixed.chroot.empty() && can_switch) {
    std::string why;
    if (!privsep::checkChrootDir(cfg.fixed.chroot, why)) {
      const SourcePos& p = cfg.fixed.chroot_pos;
      out.errors.push_back(cfg.file + ":" + std::to_string(p.line) + ":" + std::to_string(p.col) + ": " + why);
    }
  }
  // Privileged, the binder hands the worker the text and one socket per listen address in one
  // message. The loader already refuses a text over kMaxConfigBytes; the socket count is left.
  if (privileged) {
    std::size_t sockets = 0;
    for (const FrontendConfig& f : cfg.frontends) sockets += listenEndpoints(f).size();
    std::string why;
    if (!privsep::handoverFits(loaded.text.size(), sockets, why)) out.errors.push_back(cfg.file + ": " + why);
  }
  return out;
}

int runCheck(const LoadResult& loaded) {
  const Preflight pre = preflight(loaded, privsep::canBindPrivilegedPorts(), privsep::canChangeIdentity());
  for (const std::string& w : pre.warnings) std::fprintf(stderr, "udpx: warning: %s\n", w.c_str());
  for (const std::string& e : pre.errors) std::fprintf(stderr, "%s\n", e.c_str());
  if (!pre.errors.empty()) {
    std::fprintf(stderr, "udpx: %zu start-up problem%s: udpx would not start\n", pre.errors.size(),
                 pre.errors.size() == 1 ? "" : "s");
    return 1;
  }
  std::printf("configuration OK\n");
  return 0;
}

int runStart(const CliOptions& opt, const LoadResult& loaded) {
  const Config& cfg = *loaded.config;
  // Sockets handed in from outside, then whatever is left is bound here.
  std::vector<std::string> errors, notes;
  std::vector<privsep::InheritedSocket> inherited = privsep::takeSystemdSockets(errors);
  std::string inherited_from = inherited.empty() ? "" : "systemd socket activation";
  for (auto& s : privsep::takeListenFds(opt.listen_fds, errors)) {
    if (inherited_from.empty()) inherited_from = "--listen-fd";
    inherited.push_back(std::move(s));
  }
  if (!errors.empty()) return reportStartErrors(errors, "socket problem");

  const bool privileged = privsep::canBindPrivilegedPorts();
  const bool can_switch = privsep::canChangeIdentity();
  const Preflight pre = preflight(loaded, privileged, can_switch);
  for (const std::string& w : pre.warnings) LOG_WARN("%s", w.c_str());
  if (!pre.errors.empty()) return reportStartErrors(pre.errors, "start-up problem");
  const std::optional<privsep::Identity>& id = pre.identity;

  std::vector<UniqueFd> listeners = privsep::openListeners(cfg, std::move(inherited), errors, notes);
  for (const std::string& n : notes) LOG_WARN("%s", n.c_str());
  if (!errors.empty()) return reportStartErrors(errors, "listener problem");

  if (!privileged) {
    LOG_DEBUG("started without privilege: one process (no binder), sandboxed like a worker");
    return serve(cfg, std::move(listeners), UniqueFd(), nullptr, inherited_from);
  }
  // The default status socket goes under /run/udpx, where no other local user can take it first.
  const bool runtime_dir = can_switch && cfg.global.status.empty();
  if (runtime_dir) privsep::prepareRuntimeDir(*id);
  privsep::BinderPlan plan;
  plan.config_name = cfg.file;
  plan.config_text = loaded.text;
  plan.listeners = std::move(listeners);
  for (const FrontendConfig& fe : cfg.frontends) {
    for (const ListenEndpoint& e : listenEndpoints(fe)) plan.listen.push_back(e);
  }
  plan.reload.path = cfg.file == kCommandLineConfigName ? std::string() : cfg.file;
  plan.reload.may_bind = inherited_from.empty();
  plan.reload.trusted_only = opt.secure_start;
  // The worker's choice at start (after prepareRuntimeDir, as root, like the worker's own).
  plan.reload.status_default = chooseStatusEndpoint(cfg);
  plan.identity = *id;
  plan.change_identity = can_switch;
  if (opt.log_level) plan.worker_args = {"--log-level", *opt.log_level};
  plan.restart = cfg.fixed.chroot.empty();
  return privsep::runBinder(std::move(plan));  // it removes the worker's status socket file at the end
}

}  // namespace udpx

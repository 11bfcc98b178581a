// Runtime: the running proxy built from a validated Config — backends and frontends keyed by
// name, their sockets, the event loop, signals — and its lifecycle (adopt sockets, run, stop).
//
// The app room (src/app/) is the top of udpx, where the other rooms meet: the command line
// (cli.h), the modes it picks (modes.h: check, start as binder or single process, worker) and
// Runtime, the composition root that builds backends, frontends, the data path, the status
// socket and the metrics endpoint from one Config and runs them on one event loop. Only
// src/main.cpp includes it.
#pragma once

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "app/reload.h"
#include "app/reload_diff.h"
#include "app/service_notifier.h"
#include "backends/backend.h"
#include "backends/resolver.h"
#include "config/config.h"
#include "net/event_ptr.h"
#include "status/http_server.h"
#include "status/metrics.h"
#include "status/process_stats.h"
#include "status/snapshot.h"
#include "dataplane/proxy.h"
#include "status/status_server.h"
#include "net/listen_socket.h"
#include "net/unique_fd.h"
#include "dataplane/frontend.h"
#include "dataplane/tcp_check.h"
#include "dataplane/tcp_relay.h"

namespace udpx {

// Lifecycle, in this order (serve() in src/app/serve.cpp, for the worker and a single process):
//   Runtime rt(cfg);             builds backends (resolves names) and frontends
//   rt.adoptListeners(fds);      takes the listening sockets privsep::openListeners gathered
//                                (inherited or bound), handed over by the binder or in-process
//   rt.prepare();                EVERYTHING that needs files, privilege or new listening sockets:
//                                signals, events, and (added by other parts) metrics/status
//                                listeners, resolver config, /proc fds kept open
//   -- privilege drop, chroot, seccomp (privsep::enterSandbox): from here on no file can be
//      opened, no process started, no privilege used; the seccomp allowlist in
//      src/privsep/sandbox.cpp must cover every system call run() makes --
//   rt.run();                    the event loop only
class Runtime {
 public:
  // Builds backends and frontends, and opens everything the loop needs later (the status
  // socket, the resolver's configuration), so run() needs no file and no new privilege.
  // Problems that do not stop udpx (a name that does not resolve) are logged as warnings;
  // throws std::runtime_error for those that do (the status socket is taken).
  explicit Runtime(const Config& cfg);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Takes over sockets opened elsewhere (the binder, systemd socket activation, --listen-fd):
  // each is matched to a configured listen address by getsockname. Every fd must match one
  // address and every address must get one fd; otherwise returns false with one line per problem.
  // Also opens the metrics endpoint (global.metrics) itself, as bindAll does.
  bool adoptListeners(std::vector<UniqueFd> fds, std::vector<std::string>& errors);

  // Stops the loop (exit code 1) when `fd` is closed at the other end: the worker's end of the
  // socketpair to the binder, so the worker never outlives it. `who` names the peer in the log.
  void stopWhenClosed(UniqueFd fd, std::string who);

  // Sets up everything the loop needs before the sandbox closes (see the order above).
  // Idempotent; run() calls it if nobody did.
  void prepare();

  // Runs the loop until SIGTERM/SIGINT. Returns the process exit code.
  int run();

  // Applies a new configuration in place (issue 12, src/app/reload.h; src/app/reload.cpp and
  // reload_apply.cpp): refused whole on any error, leaving the running config exactly as it
  // was. Never blocks the loop for long. Counts, logs and remembers the outcome for the status.
  // Call it from a loop callback (a signal, the binder's message, a status request).
  ReloadOutcome reload(ReloadRequest request);

  // How SIGHUP reloads. kSelf: this process reads its file itself (one process, no binder; the
  // sandbox lets it open files read-only, privsep/sandbox.h). kTrigger: it calls the function
  // given (the worker asks its binder). kNone (the default, and a config from the command
  // line): SIGHUP says why there is nothing to reload.
  void reloadOnSighupBySelf();
  void reloadOnSighupBy(std::function<void()> trigger);
  // A new listen address no socket was handed for: bound by the runtime itself (the default),
  // or refused with `why` (its sockets come from systemd or --listen-fd, which it cannot ask
  // for more).
  void refuseBindingNewListeners(std::string why) { no_bind_reason_ = std::move(why); }
  // Reload transport (src/app/reload_link.cpp). The worker: SIGHUP and `udpx reload` ask the
  // binder over the socketpair given to stopWhenClosed; the binder answers with the text and the
  // new sockets, and gets the outcome back.
  void reloadThroughBinder();
  // `udpx reload` on the status socket is allowed for root and `uid` (the user udpx runs as
  // after its drop; set then, since the sandbox has no getuid).
  void allowReloadsFrom(uid_t uid) noexcept { reload_uid_ = uid; }
  // --log-level was given: a reload leaves the level alone.
  static inline bool log_level_from_command_line = false;
  // For the reload (issue 12), around Runtime::reload: notifyReloading() before it starts
  // (systemd: RELOADING=1), notifyReady() once it is applied or refused (READY=1 and the new
  // STATUS= line). Nothing happens unless udpx runs under systemd ($NOTIFY_SOCKET).
  void notifyReloading() { if (notifier_) notifier_->reloading(); }
  void notifyReady() { if (notifier_) notifier_->ready(); }

  // Configuration reloads by outcome (a SIGHUP reload bumps reloads_.succeeded or .failed).
  const ReloadStats& reloads() const noexcept { return reloads_; }

  // Everything `udpx status` shows, as one self-contained JSON object (snapshot_json.h): a
  // snapshot of every counter and state, and every problem with a hint. Written on SIGUSR1 and
  // at exit as a `stats {json}` line, and served on the status socket and /status.
  // `with_clients`: each frontend's recent clients one by one (the status socket and /status;
  // not the log lines, where up to 1,000 clients a frontend would not fit).
  std::string statusJson(bool with_clients = false) const;

  // The status endpoint ("@udpx:/etc/udpx.toml", a path, or "off"); a reload may move it.
  const std::string& statusEndpoint() const noexcept { return status_endpoint_; }

 private:
  static void onSignal(evutil_socket_t sig, short what, void* arg) noexcept;
  void bindMetrics(std::vector<std::string>& errors);
  std::unique_ptr<HttpServer> openMetrics(const SockAddr& addr, std::string& why);
  void resolveAtStartup();
  // What status and metrics take their snapshots of.
  SnapshotSources snapshotSources() const;
  static void onPeerReadable(evutil_socket_t fd, short what, void* arg) noexcept;

  // ---- reloads (reload.cpp, reload_apply.cpp) ----
  // What prepareReload opened for applyReload: a socket for each new listen address.
  struct PreparedReload {
    std::vector<ListenSlot> listeners;
    bool metrics_changed = false;   // global.metrics moved, came or went
    std::unique_ptr<HttpServer> http;  // its new endpoint (null: turned off)
    bool status_changed = false;       // global.status moved
    std::string status_endpoint;       // where to ("off": none)
    UniqueFd status_fd;                // listening there
  };
  // Where a reload's global.status points: "" is the endpoint chosen at start.
  std::string statusTarget(const Config& next) const;
  // Answers status connection `id`, on the current status server or one a reload retired.
  void replyStatus(std::uint64_t id, std::string text);
  void onSighup();
  // The fixed part and what a reload cannot apply yet: "needs a restart" errors.
  void checkRestartNeeded(const Config& next, const ConfigDiff& diff, std::vector<std::string>& errors) const;
  // Everything that can fail, before anything changes: new listening sockets.
  bool prepareReload(const Config& next, std::vector<UniqueFd> handed, PreparedReload& prep,
                     std::vector<std::string>& errors);
  // Applies a diff that prepareReload accepted; cannot fail.
  void applyReload(const ConfigDiff& diff, const Config& next, PreparedReload& prep);
  void applyFrontends(const ConfigDiff& diff, const Config& next, PreparedReload& prep);
  // The host names of a changed backend: removed ones unwatched and released, new ones watched.
  void applyHostNames(Backend& b, const BackendConfig& before, const BackendConfig& after, TimePoint now);
  void recordReload(const ReloadOutcome& out, const std::string& file, std::uint64_t hash, double ms);
  static void onRetireTimer(evutil_socket_t fd, short what, void* arg) noexcept;
  // ---- reload transport (reload_link.cpp) ----
  // One process: reads cfg_.file itself and reloads it (SIGHUP and `udpx reload`).
  ReloadOutcome reloadOwnFile();
  // SIGHUP (status_conn 0) or a `udpx reload` on status connection `status_conn`.
  void askReload(std::uint64_t status_conn);
  void onStatusCommand(std::uint64_t id, const std::string& request, const StatusServer::Peer& peer);
  // A message from the binder: an Order is reloaded and answered. False (with `error`): the
  // binder is gone or broke the protocol.
  bool onBinderMessage(std::string& error);
  void answerStatus(std::uint64_t status_conn, const ReloadOutcome& out);
  void sweepRetired() noexcept;
  // ---- TCP (runtime_tcp.cpp) ----
  TcpRelay* tcpRelayOf(const Frontend& fe) const noexcept;
  void makeTcpRelays();
  // A reload: relays of frontends that go or turn tcp off end (their sockets into `freed`), and
  // listen addresses a relay no longer has give their sockets up; then (addTcp) relays are made
  // for frontends that turn tcp on, and new addresses get sockets from `freed` or `prep`.
  void dropTcp(const Config& next, std::vector<ListenSlot>& freed);
  void addTcp(PreparedReload& prep, std::vector<ListenSlot>& freed);
  // One TcpCheck per backend that some relay uses, whatever the number of its relays: made for a
  // backend that gains its first relay (started once prepared), ended for one that lost its last
  // (or was removed). At start and after every reload, once relays and backends are in place.
  void syncTcpChecks();

  Config cfg_;
  EventBasePtr base_;
  std::vector<std::unique_ptr<Backend>> backends_;
  std::unique_ptr<Resolver> resolver_;  // always: a reload may add host names
  std::vector<std::unique_ptr<Frontend>> frontends_;
  std::unique_ptr<Proxy> proxy_;
  std::vector<std::unique_ptr<TcpRelay>> tcp_relays_;  // frontends with tcp = true; end before them
  // The TCP health of the backends the relays use, one per backend; attempts hold servers.
  std::vector<std::unique_ptr<TcpCheck>> tcp_checks_;
  std::vector<EventPtr> signals_;
  ReloadStats reloads_;
  ReloadState reload_state_;
  enum class SighupAction : std::uint8_t { None, Self, Trigger } sighup_ = SighupAction::None;
  std::function<void()> reload_trigger_;
  std::string no_bind_reason_;  // non-empty: new listen addresses are not bound here
  bool via_binder_ = false;
  uid_t reload_uid_ = 0;
  std::uint32_t next_ask_ = 1;
  // Asks sent to the binder for a `udpx reload`, and the status connection waiting for each.
  std::vector<std::pair<std::uint32_t, std::uint64_t>> reload_waiters_;
  // Backends a reload removed, kept until the sessions on their servers have ended.
  std::vector<std::unique_ptr<Backend>> retired_;
  EventPtr retire_ev_;
  // Opened in the constructor, before any privilege drop or sandbox: scrapes open no file.
  std::unique_ptr<ProcessStats> process_;
  std::unique_ptr<MetricsCollector> metrics_;
  std::unique_ptr<HttpServer> http_;  // /metrics and /status; null without global.metrics
  std::mt19937_64 rng_;
  std::string status_endpoint_;
  std::string start_status_endpoint_;  // chosen at start (what global.status = "" means)
  std::unique_ptr<StatusServer> status_;
  // Moved away from by a reload: no longer accepting, finishing the answers they owe.
  std::vector<std::unique_ptr<StatusServer>> retired_status_;
  std::vector<Finding> standing_findings_;  // found at start (the status socket), shown in every snapshot
  void openStatus();
  void attachStatus(UniqueFd fd);
  std::unique_ptr<ServiceNotifier> notifier_;  // made in prepare(), before chroot and sandbox
  std::int64_t started_unix_ms_ = 0;
  UniqueFd peer_fd_;
  std::string peer_name_;
  EventPtr peer_ev_;
  bool prepared_ = false;
  int exit_code_ = 0;
};

}  // namespace udpx

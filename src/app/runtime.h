// Runtime: the running proxy built from a validated Config — backends and frontends keyed by
// name, their sockets, the event loop, signals — and its lifecycle (adopt sockets, run, stop).
//
// The app room (src/app/) is the top of udpx, where the other rooms meet: the command line
// (cli.h), the modes it picks (modes.h: check, start as binder or single process, worker) and
// Runtime, the composition root that builds backends, frontends, the data path, the status
// socket and the metrics endpoint from one Config and runs them on one event loop. Only
// src/main.cpp includes it.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "app/reload.h"
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
#include "net/unique_fd.h"
#include "dataplane/frontend.h"

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

  // Applies a new configuration in place (issue 12, src/app/reload.h): refused whole on any
  // error, leaving the running config exactly as it was. Never blocks the loop for long.
  ReloadOutcome reload(ReloadRequest request);

  // Configuration reloads by outcome (a SIGHUP reload bumps reloads_.succeeded or .failed).
  const ReloadStats& reloads() const noexcept { return reloads_; }

  // Everything `udpx status` shows, as one self-contained JSON object (snapshot_json.h): a
  // snapshot of every counter and state, and every problem with a hint. Written on SIGUSR1 and
  // at exit as a `stats {json}` line, and served on the status socket and /status.
  std::string statusJson() const;

  // The status endpoint ("@udpx:/etc/udpx.toml", a path, or "off").
  const std::string& statusEndpoint() const noexcept { return status_endpoint_; }

 private:
  static void onSignal(evutil_socket_t sig, short what, void* arg) noexcept;
  void bindMetrics(std::vector<std::string>& errors);
  void resolveAtStartup();
  // What status and metrics take their snapshots of.
  SnapshotSources snapshotSources() const;
  static void onPeerReadable(evutil_socket_t fd, short what, void* arg) noexcept;

  Config cfg_;
  EventBasePtr base_;
  std::vector<std::unique_ptr<Backend>> backends_;
  std::unique_ptr<Resolver> resolver_;  // only when some server is a host name
  std::vector<std::unique_ptr<Frontend>> frontends_;
  std::unique_ptr<Proxy> proxy_;
  std::vector<EventPtr> signals_;
  ReloadStats reloads_;
  // Opened in the constructor, before any privilege drop or sandbox: scrapes open no file.
  std::unique_ptr<ProcessStats> process_;
  std::unique_ptr<MetricsCollector> metrics_;
  std::unique_ptr<HttpServer> http_;  // /metrics and /status; null without global.metrics
  std::mt19937_64 rng_;
  std::string status_endpoint_;
  std::unique_ptr<StatusServer> status_;
  std::vector<Finding> standing_findings_;  // found at start (the status socket), shown in every snapshot
  void openStatus();
  std::int64_t started_unix_ms_ = 0;
  UniqueFd peer_fd_;
  std::string peer_name_;
  EventPtr peer_ev_;
  bool prepared_ = false;
  int exit_code_ = 0;
};

}  // namespace udpx

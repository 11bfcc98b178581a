// Runtime: the running proxy built from a validated Config — backends and frontends keyed by
// name, their sockets, the event loop, signals — and its lifecycle (bind, run, stop).
#pragma once

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/resolver.h"
#include "core/config.h"
#include "core/event_ptr.h"
#include "core/http_server.h"
#include "core/metrics.h"
#include "core/process_stats.h"
#include "core/proxy.h"
#include "core/stats.h"
#include "core/status_server.h"
#include "frontends/frontend.h"

namespace udpx {

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

  // Opens every listening socket, and the metrics endpoint (global.metrics) if configured. On
  // failure returns false with one line per failed listener:
  // `frontend "x": cannot listen on ADDR: why — hint`.
  bool bindAll(std::vector<std::string>& errors);

  // Runs the loop until SIGTERM/SIGINT. Returns the process exit code.
  int run();

  // The counters as one JSON object.
  std::string statsJson() const;

  // Configuration reloads by outcome (a SIGHUP reload bumps reloads_.succeeded or .failed).
  const ReloadStats& reloads() const noexcept { return reloads_; }

  // Everything `udpx status` shows, as one self-contained JSON object: the counters of
  // statsJson() (same keys), plus per frontend, backend and server their state, since when,
  // probe results and round trips, host-name resolution, and every problem found with a
  // plain sentence and a hint ("ok": false when there is any). Written on SIGUSR1 and at exit
  // as a `stats {json}` line, and served on the status socket.
  std::string statusJson() const;

  // The status endpoint ("@udpx:/etc/udpx.toml", a path, or "off").
  const std::string& statusEndpoint() const noexcept { return status_endpoint_; }

 private:
  static void onSignal(evutil_socket_t sig, short what, void* arg) noexcept;
  void bindMetrics(std::vector<std::string>& errors);
  void resolveAtStartup();

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
  std::int64_t started_unix_ms_ = 0;
};

}  // namespace udpx

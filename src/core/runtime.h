// Runtime: the running proxy built from a validated Config — backends and frontends keyed by
// name, their sockets, the event loop, signals — and its lifecycle (bind, run, stop).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "core/config.h"
#include "core/event_ptr.h"
#include "core/http_server.h"
#include "core/metrics.h"
#include "core/process_stats.h"
#include "core/proxy.h"
#include "core/stats.h"
#include "frontends/frontend.h"

namespace udpx {

class Runtime {
 public:
  // Builds backends (resolving host names) and frontends. Problems that do not stop udpx
  // (a name that does not resolve) are logged as warnings.
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

  // The counters as one JSON object (written on SIGUSR1 and at exit).
  std::string statsJson() const;

  // Configuration reloads by outcome (a SIGHUP reload bumps reloads_.succeeded or .failed).
  const ReloadStats& reloads() const noexcept { return reloads_; }

 private:
  static void onSignal(evutil_socket_t sig, short what, void* arg) noexcept;
  void bindMetrics(std::vector<std::string>& errors);

  Config cfg_;
  EventBasePtr base_;
  std::vector<std::unique_ptr<Backend>> backends_;
  std::vector<std::unique_ptr<Frontend>> frontends_;
  std::unique_ptr<Proxy> proxy_;
  std::vector<EventPtr> signals_;
  ReloadStats reloads_;
  // Opened in the constructor, before any privilege drop or sandbox: scrapes open no file.
  std::unique_ptr<ProcessStats> process_;
  std::unique_ptr<MetricsCollector> metrics_;
  std::unique_ptr<HttpServer> http_;  // /metrics and /status; null without global.metrics
};

}  // namespace udpx

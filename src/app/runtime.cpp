// Runtime: builds the proxy from a Config, binds, runs the loop, handles signals.
#include "app/runtime.h"

#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <stdexcept>

#include <unistd.h>

#include "base/clock.h"
#include "config/duration.h"
#include "base/log.h"
#include "net/listen_socket.h"
#include "status/service_summary.h"
#include "status/snapshot_json.h"
#include "status/status_socket.h"
#include "base/version.h"

namespace udpx {

Runtime::Runtime(const Config& cfg) : cfg_(cfg), rng_(std::random_device{}()) {
  started_unix_ms_ = unixMillisNow();
  reload_state_.config_hash = cfg_.text_hash;
  reload_state_.last_success_unix_ms = started_unix_ms_;
  // NOTE: not EVENT_BASE_FLAG_PRECISE_TIMER: it re-arms a timerfd on every loop iteration (one
  // more system call per wake-up). epoll's millisecond timeout, which libevent rounds up, is
  // the millisecond precision session_timeout promises, and never fires early.
  base_.reset(event_base_new());
  if (!base_) throw std::runtime_error("cannot create the event loop");
  // Priorities: 0 signals and the binder's socket, 1 everything else (the default): sockets,
  // timers, HTTP and the reply flush. The flush is activated at the sockets' priority, so it
  // runs after the socket events already queued in the same iteration (see Proxy); a lower
  // priority would cost one more epoll_wait per wake-up. 2 is unused.
  event_base_priority_init(base_.get(), 3);

  for (const BackendConfig& bc : cfg_.backends) {
    backends_.push_back(std::make_unique<Backend>(bc, base_.get(), &rng_));
  }
  resolveAtStartup();
  std::uint32_t max_datagram = 1;
  for (const FrontendConfig& fc : cfg_.frontends) {
    Backend* be = nullptr;
    for (auto& b : backends_) {
      if (b->name() == fc.backend) be = b.get();
    }
    if (be == nullptr) throw std::logic_error("frontend \"" + fc.name + "\" names unknown backend (loader bug)");
    frontends_.push_back(std::make_unique<Frontend>(fc, be));
    max_datagram = std::max(max_datagram, fc.max_datagram);
  }
  proxy_ = std::make_unique<Proxy>(base_.get(), cfg_.global.max_sessions, max_datagram);
  makeTcpRelays();
  syncTcpChecks();

  if (cfg_.global.metrics) {
    process_ = std::make_unique<ProcessStats>();
    if (!process_->problem().empty()) LOG_WARN("metrics: %s", process_->problem().c_str());
  }
  metrics_ = std::make_unique<MetricsCollector>(snapshotSources());
  status_endpoint_ = udpx::chooseStatusEndpoint(cfg_);
  start_status_endpoint_ = status_endpoint_;
  if (status_endpoint_ != "off") {
    openStatus();
  }
}

// The status socket: a problem, not a reason to stop (another local user may have taken the
// name first). udpx serves without it, says so loudly, and /status, /metrics and the stats line
// carry the finding.
void Runtime::openStatus() {
  std::string why;
  UniqueFd fd = listenStatus(status_endpoint_, why);
  if (!fd.valid()) {
    LOG_ERROR("cannot open the status socket %s: %s — serving without it: `udpx status` cannot reach this "
              "instance", status_endpoint_.c_str(), why.c_str());
    standing_findings_.push_back({"error", "status socket " + status_endpoint_, "cannot be opened: " + why +
                                  "; udpx serves without it and `udpx status` cannot reach it",
                                  "see who holds it (ss -xlp | grep udpx), stop that, or set global.status to "
                                  "another name, then restart udpx"});
    return;
  }
  attachStatus(std::move(fd));
}

void Runtime::attachStatus(UniqueFd fd) {
  status_ = std::make_unique<StatusServer>(std::move(fd), status_endpoint_, [this] { return statusJson(true) + "\n"; });
  status_->attach(base_.get());
  status_->setCommandHandler([this](std::uint64_t id, const std::string& request, const StatusServer::Peer& peer) {
    onStatusCommand(id, request, peer);
  });
}

// Host names: resolved on the loop with evdns. The resolver is made even when no server is a
// host name, so that a reload can add one. Start-up waits (a bounded while) for the first
// answers, so udpx is ready with its servers; re-resolution then runs on the loop by itself.
void Runtime::resolveAtStartup() {
  resolver_ = std::make_unique<Resolver>(base_.get(), cfg_.global.resolvers);
  bool any = false;
  for (std::size_t i = 0; i < cfg_.backends.size(); ++i) {
    for (const ServerConfig& sc : cfg_.backends[i].servers) {
      if (sc.literal) continue;
      resolver_->watch(*backends_[i], sc);
      any = true;
    }
  }
  resolver_->start();
  if (!any) return;
  // evdns gives up on a name after timeout x attempts (4s); this bound only guards against
  // a loop that never settles.
  const TimePoint deadline = Clock::now() + std::chrono::seconds(6);
  EventPtr tick(evtimer_new(base_.get(), [](evutil_socket_t, short, void*) {}, nullptr));
  while (!resolver_->settled() && Clock::now() < deadline) {
    const timeval tv{0, 100000};
    evtimer_add(tick.get(), &tv);
    event_base_loop(base_.get(), EVLOOP_ONCE);
  }
  for (std::size_t i = 0; i < cfg_.backends.size(); ++i) {
    if (backends_[i]->servers().empty()) {
      LOG_ERROR("backend \"%s\": no server address yet — requests through it are dropped until a name resolves",
                cfg_.backends[i].name.c_str());
    }
  }
}

SnapshotSources Runtime::snapshotSources() const {
  return {frontends_, backends_, reloads_, resolver_.get(), process_.get(), cfg_.file, started_unix_ms_, &reload_state_,
          &standing_findings_};
}

std::string Runtime::statusJson(bool with_clients) const {
  SnapshotSources from = snapshotSources();
  from.with_clients = with_clients;
  from.process = nullptr;  // the document shows no process_* values: nothing to read from /proc
  return toJson(takeSnapshot(from, Clock::now()));
}

Runtime::~Runtime() {
  http_.reset();  // no scrape may reach the objects below while they go
  // Sessions reference frontends and servers: end them first.
  tcp_relays_.clear();  // connections hold servers and point at frontends
  tcp_checks_.clear();  // attempts hold servers
  if (proxy_) proxy_->shutdown();
  proxy_.reset();
  status_.reset();
  retired_status_.clear();
  resolver_.reset();
  signals_.clear();
  frontends_.clear();
  backends_.clear();
  retire_ev_.reset();
  retired_.clear();
}

std::unique_ptr<HttpServer> Runtime::openMetrics(const SockAddr& addr, std::string& why) {
  std::vector<HttpServer::Route> routes;
  routes.push_back({"/metrics", MetricsCollector::kContentType, [this] { return metrics_->text(); }});
  routes.push_back({"/status", "application/json", [this] { return statusJson(true) + "\n"; }});
  return HttpServer::open(base_.get(), addr, std::move(routes), why);
}

void Runtime::bindMetrics(std::vector<std::string>& errors) {
  if (!cfg_.global.metrics) return;
  const SockAddr& addr = *cfg_.global.metrics;
  std::string why;
  http_ = openMetrics(addr, why);
  if (!http_) errors.push_back("metrics endpoint (global.metrics): cannot listen on " + addr.toString() + ": " + why);
}

bool Runtime::adoptListeners(std::vector<UniqueFd> fds, std::vector<std::string>& errors) {
  // One slot per listen address, in config order, and the frontend each belongs to.
  std::vector<ListenSlot> slots;
  std::vector<Frontend*> owners;
  for (auto& fe : frontends_) {
    for (const ListenEndpoint& e : listenEndpoints(fe->config())) {
      slots.push_back(ListenSlot{e.addr, {}, e.transport});
      owners.push_back(fe.get());
    }
  }
  for (UniqueFd& fd : fds) {
    std::string why;
    const ListenEndpoint got = boundEndpoint(fd.get(), why);
    const SockAddr& bound = got.addr;
    if (bound.empty()) {
      errors.push_back("socket " + std::to_string(fd.get()) + " cannot be used: " + why);
      continue;
    }
    const std::optional<std::size_t> slot = findListenSlot(slots, bound, got.transport);
    if (!slot) {
      errors.push_back("socket " + std::to_string(fd.get()) + " is bound to " + bound.toString() +
                       ", which is not (or no longer) a listen address of any frontend — add it to a frontend's "
                       "listen list, or stop passing this socket");
      continue;
    }
    slots[*slot].fd = std::move(fd);
  }
  for (std::size_t i = 0; i < slots.size(); ++i) {
    Frontend& fe = *owners[i];
    const bool tcp = slots[i].transport == Transport::Tcp;
    if (!slots[i].fd.valid()) {
      errors.push_back("frontend \"" + fe.name() + "\": no socket for listen address " + slots[i].addr.toString() +
                       (tcp ? " (TCP)" : "") + " was handed over — pass one (systemd " +
                       (tcp ? "ListenStream=" : "ListenDatagram=") + ", --listen-fd) or let udpx bind it" +
                       (tcp ? ", or set tcp = false" : ""));
      continue;
    }
    if (tcp) {
      tcpRelayOf(fe)->addListener(slots[i].addr, std::move(slots[i].fd));
      continue;
    }
    fe.listeners().push_back(std::make_unique<Listener>(fe, slots[i].addr, std::move(slots[i].fd)));
  }
  // The metrics endpoint is opened here, by the worker itself, still privileged (before the
  // drop), like everything else prepared before the sandbox.
  bindMetrics(errors);
  return errors.empty();
}

void Runtime::stopWhenClosed(UniqueFd fd, std::string who) {
  peer_fd_ = std::move(fd);
  peer_name_ = std::move(who);
  peer_ev_.reset(event_new(base_.get(), peer_fd_.get(), EV_READ | EV_PERSIST, &Runtime::onPeerReadable, this));
  if (!peer_ev_ || event_add(peer_ev_.get(), nullptr) != 0) throw std::runtime_error("cannot watch the " + peer_name_);
  event_priority_set(peer_ev_.get(), 0);
}

void Runtime::onPeerReadable(evutil_socket_t, short, void* arg) noexcept {
  auto* rt = static_cast<Runtime*>(arg);
  // The binder sends only reload orders after the handover (reload_link.cpp); anything else,
  // and end of file, stops the worker.
  std::string error;
  if (rt->onBinderMessage(error)) return;
  LOG_ERROR("the %s %s; stopping", rt->peer_name_.c_str(), error.c_str());
  rt->exit_code_ = 1;
  event_del(rt->peer_ev_.get());
  event_base_loopexit(rt->base_.get(), nullptr);
}

void Runtime::onSignal(evutil_socket_t sig, short, void* arg) noexcept {
  auto* rt = static_cast<Runtime*>(arg);
  switch (sig) {
    case SIGTERM:
    case SIGINT:
      LOG_INFO("received %s, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      event_base_loopexit(rt->base_.get(), nullptr);
      break;
    case SIGUSR1: {
      std::string line = "stats " + rt->statusJson() + "\n";
      ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
      (void)ignored;
      break;
    }
    case SIGHUP:
      rt->onSighup();
      break;
    default:
      break;
  }
}

void Runtime::prepare() {
  if (prepared_) return;
  prepared_ = true;
  signal(SIGPIPE, SIG_IGN);
  for (int sig : {SIGTERM, SIGINT, SIGUSR1, SIGHUP}) {
    EventPtr ev(evsignal_new(base_.get(), sig, &Runtime::onSignal, this));
    if (!ev) throw std::runtime_error("cannot install signal handlers");
    event_priority_set(ev.get(), 0);
    evsignal_add(ev.get(), nullptr);
    signals_.push_back(std::move(ev));
  }
  for (auto& fe : frontends_) proxy_->attach(*fe);
  for (auto& relay : tcp_relays_) relay->start();
  for (auto& check : tcp_checks_) check->start();
  for (auto& be : backends_) be->startProbes();
  // The worker (it watches its binder) pings the watchdog on the binder's behalf: systemd's
  // $WATCHDOG_PID names the main process.
  notifier_ = std::make_unique<ServiceNotifier>(base_.get(), peer_fd_.valid() ? getppid() : getpid(), [this] {
    SnapshotSources from = snapshotSources();
    from.process = nullptr;  // the line shows no process_* values
    return serviceSummary(takeSnapshot(from, Clock::now()));
  });
}

int Runtime::run() {
  prepare();
  for (auto& fe : frontends_) {
    std::string addrs;
    for (auto& l : fe->listeners()) addrs += (addrs.empty() ? "" : ", ") + l->addr.toString();
    const FrontendConfig& c = fe->config();
    std::string responses = c.responses == kUnlimitedResponses ? "unlimited" : std::to_string(c.responses);
    const std::string tcp = c.tcp ? "; TCP too (at most " + std::to_string(c.tcp_max_connections) + " connections, " +
                                        std::to_string(c.tcp_max_per_client) + " per client, idle timeout " +
                                        formatDuration(c.tcp_idle_timeout) + ")"
                                  : "";
    LOG_INFO("frontend \"%s\" (%s) listening on %s -> backend \"%s\" (%zu servers), session timeout %s, "
             "responses %s%s",
             fe->name().c_str(), std::string(presetDefaults(c.preset).name).c_str(), addrs.c_str(),
             fe->backend()->name().c_str(), fe->backend()->servers().size(),
             formatDuration(c.session_timeout).c_str(), responses.c_str(), tcp.c_str());
  }
  if (http_) {
    const std::string a = http_->address().toString();
    LOG_INFO("metrics on http://%s/metrics, status on http://%s/status", a.c_str(), a.c_str());
  }
  for (auto& be : backends_) {
    const HealthConfig& h = be->config().health;
    if (be->probesActive()) {
      LOG_INFO("backend \"%s\": %s health probes every %s (timeout %s, down after %u failures, up after %u successes)",
               be->name().c_str(), std::string(probeTypeName(h.probe.type)).c_str(), formatDuration(h.interval).c_str(),
               formatDuration(h.timeout).c_str(), h.fall, h.rise);
    } else {
      LOG_INFO("backend \"%s\": no active health probe; passive checks only (ICMP port unreachable, unanswered "
               "requests), a failed server is tried again after fail_timeout %s",
               be->name().c_str(), formatDuration(be->config().fail_timeout).c_str());
    }
  }
  if (status_) {
    LOG_INFO("status for any local user: udpx status %s (socket %s)",
             cfg_.file == kCommandLineConfigName ? ("--socket " + status_endpoint_).c_str() : ("-c " + cfg_.file).c_str(),
             status_endpoint_.c_str());
  }
  LOG_INFO("udpx %s ready: %zu frontends, %zu backends", UDPX_VERSION, frontends_.size(), backends_.size());
  notifier_->ready();
  event_base_dispatch(base_.get());
  notifier_->stopping();
  for (auto& relay : tcp_relays_) relay->closeAll();
  proxy_->shutdown();
  std::string line = "stats " + statusJson() + "\n";
  LOG_INFO("stopped; final counters follow");
  ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void)ignored;
  return exit_code_;
}

}  // namespace udpx

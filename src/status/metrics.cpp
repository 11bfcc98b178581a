// MetricsCollector: names, help texts and labels of every metric udpx exports.
#include "status/metrics.h"

#include <event2/event.h>
#include <prometheus/text_serializer.h>

#include <deque>
#include <iterator>
#include <utility>

#include "backends/backend.h"
#include "status/process_stats.h"
#include "dataplane/proxy.h"
#include "base/version.h"
#include "dataplane/frontend.h"

namespace udpx {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// Builds the families in order; a family is declared (HELP, TYPE) even while it has no sample,
// so the list of metrics does not depend on traffic.
class Families {
 public:
  // NOTE: a deque, so the references handed out stay valid while more families are added.
  MetricFamily& add(std::string name, std::string help, MetricType type) {
    return out_.emplace_back(MetricFamily{std::move(name), std::move(help), type, {}});
  }
  std::vector<MetricFamily> take() {
    return std::vector<MetricFamily>(std::make_move_iterator(out_.begin()), std::make_move_iterator(out_.end()));
  }

 private:
  std::deque<MetricFamily> out_;
};

void sample(MetricFamily& f, Labels labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

double num(std::uint64_t v) { return static_cast<double>(v); }

}  // namespace

MetricsCollector::MetricsCollector(const std::vector<std::unique_ptr<Frontend>>& frontends,
                                   const std::vector<std::unique_ptr<Backend>>& backends,
                                   const ReloadStats& reloads, const ProcessStats* process)
    : frontends_(frontends), backends_(backends), reloads_(reloads), process_(process) {}

std::vector<MetricFamily> MetricsCollector::Collect() const { return collect(Clock::now()); }

std::vector<MetricFamily> MetricsCollector::collect(TimePoint /*now*/) const {
  Families fam;
  constexpr MetricType kCounter = MetricType::Counter;
  constexpr MetricType kGauge = MetricType::Gauge;

  // ---- frontends: label frontend ----
  struct FrontendCounter {
    const char* name;
    const char* help;
    std::uint64_t FrontendStats::*field;
  };
  static constexpr FrontendCounter kFrontendCounters[] = {
      {"udpx_frontend_received_packets_total", "Datagrams received from clients, before any check.",
       &FrontendStats::received},
      {"udpx_frontend_received_bytes_total", "Payload bytes received from clients.", &FrontendStats::received_bytes},
      {"udpx_frontend_forwarded_packets_total", "Requests sent to an upstream server.", &FrontendStats::forwarded},
      {"udpx_frontend_forwarded_bytes_total", "Payload bytes of the requests sent upstream.",
       &FrontendStats::forwarded_bytes},
      {"udpx_frontend_replied_packets_total", "Replies delivered to clients.", &FrontendStats::replied},
      {"udpx_frontend_replied_bytes_total", "Payload bytes of the replies delivered to clients.",
       &FrontendStats::replied_bytes},
  };
  for (const FrontendCounter& c : kFrontendCounters) {
    MetricFamily& f = fam.add(c.name, c.help, kCounter);
    for (const auto& fe : frontends_) sample(f, {{"frontend", fe->name()}}, num(fe->stats.*c.field));
  }
  {
    MetricFamily& f = fam.add(
        "udpx_frontend_dropped_packets_total",
        "Datagrams dropped, by reason; reply_* reasons count datagrams from upstream servers.", kCounter);
    for (const auto& fe : frontends_) {
      for (std::size_t i = 0; i < kDropCount; ++i) {
        sample(f, {{"frontend", fe->name()}, {"reason", std::string(dropName(static_cast<Drop>(i)))}},
               num(fe->stats.dropped[i]));
      }
    }
  }
  {
    MetricFamily& active = fam.add("udpx_frontend_sessions_active", "Sessions open now (one upstream socket each).", kGauge);
    MetricFamily& limit = fam.add("udpx_frontend_sessions_limit",
                                  "The frontend's max_sessions: beyond it the least recently used session is evicted.",
                                  kGauge);
    MetricFamily& created = fam.add("udpx_frontend_sessions_created_total", "Sessions opened for new clients.", kCounter);
    MetricFamily& ended = fam.add(
        "udpx_frontend_sessions_ended_total",
        "Sessions ended, by reason: expired (idle for session_timeout), evicted (least recently used, at "
        "max_sessions), closed (reply budget used up, or the server refused).",
        kCounter);
    for (const auto& fe : frontends_) {
      const FrontendStats& s = fe->stats;
      const std::string& name = fe->name();
      // The lane exists once the data path has attached the frontend (before run(): none open).
      const std::uint32_t open = fe->proxy != nullptr ? fe->proxy->sessions().laneSize(fe->lane) : 0;
      sample(active, {{"frontend", name}}, num(open));
      sample(limit, {{"frontend", name}}, num(fe->config().max_sessions));
      sample(created, {{"frontend", name}}, num(s.sessions_created));
      sample(ended, {{"frontend", name}, {"reason", "expired"}}, num(s.sessions_expired));
      sample(ended, {{"frontend", name}, {"reason", "evicted"}}, num(s.sessions_evicted));
      sample(ended, {{"frontend", name}, {"reason", "closed"}}, num(s.sessions_closed));
    }
  }

  // ---- servers: labels backend, server ----
  MetricFamily& up = fam.add("udpx_server_up",
                             "1 if the server is eligible for new sessions, 0 if health checks or an ICMP port "
                             "unreachable (within fail_timeout) took it out.",
                             kGauge);
  MetricFamily& rtt = fam.add("udpx_server_probe_rtt_seconds",
                              "Round-trip time of the last good health probe (absent until one succeeded).", kGauge);
  MetricFamily& probes = fam.add("udpx_server_probes_total", "Health probes sent.", kCounter);
  MetricFamily& probe_failures = fam.add("udpx_server_probe_failures_total",
                                         "Health probes that timed out or got a bad or unhealthy reply.", kCounter);
  MetricFamily& unanswered = fam.add("udpx_server_unanswered_requests_total",
                                     "Requests forwarded on client traffic that got no reply.", kCounter);
  MetricFamily& sessions = fam.add("udpx_server_sessions_total", "Sessions assigned to the server.", kCounter);
  MetricFamily& forwarded = fam.add("udpx_server_forwarded_packets_total", "Requests sent to the server.", kCounter);
  MetricFamily& replied =
      fam.add("udpx_server_replied_packets_total", "Valid replies received from the server.", kCounter);
  MetricFamily& refused = fam.add("udpx_server_refused_total",
                                  "Datagrams to the server answered with ICMP port unreachable (connection refused).",
                                  kCounter);
  for (const auto& be : backends_) {
    for (const Server& sv : be->servers()) {
      const Labels l{{"backend", be->name()}, {"server", sv.label()}};
      sample(up, l, sv.health.up && sv.eligible() ? 1 : 0);
      if (sv.health.last_rtt_seconds >= 0) sample(rtt, l, sv.health.last_rtt_seconds);
      sample(probes, l, num(sv.health.probes));
      sample(probe_failures, l, num(sv.health.probe_failures));
      sample(unanswered, l, num(sv.health.unanswered));
      sample(sessions, l, num(sv.stats.sessions));
      sample(forwarded, l, num(sv.stats.forwarded));
      sample(replied, l, num(sv.stats.replied));
      sample(refused, l, num(sv.stats.refused));
    }
  }

  // ---- the process ----
  {
    MetricFamily& f = fam.add("udpx_config_reloads_total",
                              "Configuration reloads (SIGHUP), by result: success (applied) or failure (refused; "
                              "the previous configuration stays).",
                              kCounter);
    sample(f, {{"result", "success"}}, num(reloads_.succeeded));
    sample(f, {{"result", "failure"}}, num(reloads_.failed));
  }
  sample(fam.add("udpx_build_info", "Always 1; the labels say which udpx (and libevent) this is.", kGauge),
         {{"version", UDPX_VERSION}, {"libevent", event_get_version()}}, 1);

  if (process_ != nullptr) {
    const ProcessStats::Sample p = process_->read();
    auto one = [&](const char* name, const char* help, MetricType type, const std::optional<double>& v) {
      MetricFamily& f = fam.add(name, help, type);
      if (v) sample(f, {}, *v);
    };
    one("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", kCounter, p.cpu_seconds);
    one("process_resident_memory_bytes", "Resident memory size in bytes.", kGauge, p.resident_bytes);
    one("process_virtual_memory_bytes", "Virtual memory size in bytes.", kGauge, p.virtual_bytes);
    one("process_open_fds", "Number of open file descriptors.", kGauge, p.open_fds);
    one("process_max_fds", "Maximum number of open file descriptors.", kGauge, p.max_fds);
    one("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", kGauge,
        p.start_time_seconds);
  }
  return fam.take();
}

std::string MetricsCollector::text() const { return prometheus::TextSerializer().Serialize(Collect()); }

}  // namespace udpx

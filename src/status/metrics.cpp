// metricFamilies: names, help texts and labels of every metric udpx exports; the counters'
// come from their declarations, the gauges' are here.
#include "status/metrics.h"

#include <event2/event.h>
#include <prometheus/text_serializer.h>

#include <deque>
#include <iterator>
#include <span>
#include <utility>

namespace udpx {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

// Builds the families in order.
class Families {
 public:
  // NOTE: a deque, so the references handed out stay valid while more families are added.
  MetricFamily& add(std::string_view name, std::string_view help, MetricType type) {
    return out_.emplace_back(MetricFamily{std::string(name), std::string(help), type, {}});
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

// The counters of `list`, one family per run of counters that share a metric name; within a
// family, each thing (frontend, server) has its samples together, one per counter.
// `things` gives (labels of the thing, its stats) pairs.
template <class Stats, class Things>
void counters(Families& fam, std::span<const Counter<Stats>> list, const Things& things) {
  for (std::size_t first = 0; first < list.size();) {
    std::size_t end = first + 1;
    while (end < list.size() && list[end].metric == list[first].metric) ++end;
    MetricFamily& f = fam.add(list[first].metric, list[first].help, MetricType::Counter);
    for (const auto& [labels, stats] : things) {
      for (std::size_t i = first; i < end; ++i) {
        const Counter<Stats>& c = list[i];
        Labels l = labels;
        if (!c.label.empty()) l.push_back({std::string(c.label), std::string(c.value)});
        sample(f, std::move(l), num(stats->*c.member));
      }
    }
    first = end;
  }
}

template <class Stats>
using Things = std::vector<std::pair<Labels, const Stats*>>;

}  // namespace

std::vector<MetricFamily> metricFamilies(const Snapshot& s) {
  Families fam;
  constexpr MetricType kGauge = MetricType::Gauge;

  // ---- frontends: label frontend ----
  Things<FrontendStats> frontends;
  for (const FrontendSnapshot& f : s.frontends) frontends.push_back({{{"frontend", f.name}}, &f.counters});
  counters<FrontendStats>(fam, kFrontendTrafficCounters, frontends);
  {
    MetricFamily& f = fam.add(kDropCounters.metric, kDropCounters.help, MetricType::Counter);
    for (const FrontendSnapshot& fe : s.frontends) {
      for (std::size_t i = 0; i < kDropCount; ++i) {
        sample(f, {{"frontend", fe.name}, {std::string(kDropCounters.label), std::string(dropName(static_cast<Drop>(i)))}},
               num(fe.counters.dropped[i]));
      }
    }
  }
  MetricFamily& active = fam.add("udpx_frontend_sessions_active", "Sessions open now (one upstream socket each).", kGauge);
  MetricFamily& limit = fam.add("udpx_frontend_sessions_limit",
                                "The frontend's max_sessions: beyond it the least recently used session is evicted.",
                                kGauge);
  for (const FrontendSnapshot& f : s.frontends) {
    sample(active, {{"frontend", f.name}}, num(f.sessions_active));
    sample(limit, {{"frontend", f.name}}, num(f.sessions_max));
  }
  MetricFamily& in_flight = fam.add("udpx_frontend_in_flight_requests",
                                    "Shared upstream sockets: requests sent and awaiting their reply.", kGauge);
  for (const FrontendSnapshot& f : s.frontends) sample(in_flight, {{"frontend", f.name}}, num(f.in_flight));
  counters<FrontendStats>(fam, kFrontendSessionCounters, frontends);
  // TCP: only the frontends that relay it.
  Things<TcpStats> tcp;
  MetricFamily& tcp_open = fam.add("udpx_frontend_tcp_connections_active", "TCP connections open now.", kGauge);
  MetricFamily& tcp_limit = fam.add("udpx_frontend_tcp_connections_limit",
                                    "The frontend's tcp_max_connections: beyond it new connections are refused.",
                                    kGauge);
  for (const FrontendSnapshot& f : s.frontends) {
    if (!f.tcp) continue;
    tcp.push_back({{{"frontend", f.name}}, &f.tcp_counters});
    sample(tcp_open, {{"frontend", f.name}}, num(f.tcp_open));
    sample(tcp_limit, {{"frontend", f.name}}, num(f.tcp_max));
  }
  counters<TcpStats>(fam, kTcpCounters, tcp);

  // ---- servers: labels backend, server ----
  MetricFamily& up = fam.add("udpx_server_up",
                             "1 if the server is eligible for new sessions, 0 if health checks or an ICMP port "
                             "unreachable (within fail_timeout) took it out.",
                             kGauge);
  MetricFamily& rtt = fam.add("udpx_server_probe_rtt_seconds",
                              "Round-trip time of the last good health probe (absent until one succeeded).", kGauge);
  MetricFamily& sv_in_flight = fam.add("udpx_server_in_flight_requests",
                                       "Shared upstream sockets: requests to the server awaiting its reply.", kGauge);
  MetricFamily& sv_pool = fam.add("udpx_server_pool_sockets", "Shared upstream sockets open to the server.", kGauge);
  MetricFamily& tcp_up = fam.add("udpx_server_tcp_up",
                                 "1 if the server's checks over TCP pass (servers of frontends with tcp = true only).",
                                 kGauge);
  Things<ServerHealthCounters> health;
  Things<ServerStats> traffic;
  for (const BackendSnapshot& b : s.backends) {
    for (const ServerSnapshot& sv : b.servers) {
      const Labels l{{"backend", b.name}, {"server", sv.label}};
      sample(up, l, sv.down ? 0 : 1);
      if (sv.health.last_rtt_seconds >= 0) sample(rtt, l, sv.health.last_rtt_seconds);
      sample(sv_in_flight, l, num(sv.in_flight));
      sample(sv_pool, l, num(sv.pool_sockets));
      if (!sv.tcp.empty()) sample(tcp_up, l, sv.tcp == "up" ? 1 : 0);
      health.push_back({l, &sv.health});
      traffic.push_back({l, &sv.counters});
    }
  }
  counters<ServerHealthCounters>(fam, kServerHealthCounters, health);
  counters<ServerStats>(fam, kServerCounters, traffic);

  // ---- the process ----
  counters<ReloadStats>(fam, kReloadCounters, Things<ReloadStats>{{{}, &s.reloads}});
  // As Prometheus names its own (prometheus_config_last_reload_*) and Alertmanager its hash.
  sample(fam.add("udpx_config_last_reload_successful", "1 if the last reload was applied (or none was asked for), 0 if it was refused.",
                 kGauge),
         {}, s.reload.failed_unix_ms == 0 ? 1 : 0);
  sample(fam.add("udpx_config_last_reload_success_timestamp_seconds",
                 "When the running configuration was loaded: the start, or the last reload that was applied.", kGauge),
         {}, static_cast<double>(s.reload.last_success_unix_ms) / 1000.0);
  sample(fam.add("udpx_config_hash", "Hash of the running configuration's text (53 bits of FNV-1a).", kGauge), {},
         static_cast<double>(s.reload.config_hash));
  sample(fam.add("udpx_build_info", "Always 1; the labels say which udpx (and libevent) this is.", kGauge),
         {{"version", s.udpx.version}, {"libevent", event_get_version()}}, 1);

  if (s.process) {
    const ProcessStats::Sample& p = *s.process;
    auto one = [&](const char* name, const char* help, MetricType type, const std::optional<double>& v) {
      MetricFamily& f = fam.add(name, help, type);
      if (v) sample(f, {}, *v);
    };
    one("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", MetricType::Counter,
        p.cpu_seconds);
    one("process_resident_memory_bytes", "Resident memory size in bytes.", kGauge, p.resident_bytes);
    one("process_virtual_memory_bytes", "Virtual memory size in bytes.", kGauge, p.virtual_bytes);
    one("process_open_fds", "Number of open file descriptors.", kGauge, p.open_fds);
    one("process_max_fds", "Maximum number of open file descriptors.", kGauge, p.max_fds);
    one("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", kGauge,
        p.start_time_seconds);
  }
  return fam.take();
}

std::vector<MetricFamily> MetricsCollector::Collect() const { return collect(Clock::now()); }

std::vector<MetricFamily> MetricsCollector::collect(TimePoint now) const {
  return metricFamilies(takeSnapshot(sources_, now));
}

std::string MetricsCollector::text() const { return prometheus::TextSerializer().Serialize(Collect()); }

}  // namespace udpx

// MetricsCollector (src/status/metrics.cpp): known counters in, exact Prometheus text out.
#include "status/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "status/process_stats.h"
#include "status_objects.h"

namespace udpx {
namespace {

using std::chrono::milliseconds;

// The objects of StatusObjects, exported.
class MetricsCollectorTest : public StatusObjects {
 protected:
  std::string text(TimePoint now = t0_) const {
    return prometheus::TextSerializer().Serialize(collector().collect(now));
  }

  // The lines of the text that start with `prefix`.
  std::vector<std::string> lines(const std::string& prefix, TimePoint now = t0_) const {
    std::vector<std::string> out;
    std::istringstream in(text(now));
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(prefix, 0) == 0) out.push_back(line);
    }
    return out;
  }

  MetricsCollector collector(const ProcessStats* process = nullptr) const { return MetricsCollector(sources(process)); }
};

TEST_F(MetricsCollectorTest, ExportsFrontendCountersAsTheyAre) {
  FrontendStats& s = frontends_[0]->stats;
  s.received = 12;
  s.received_bytes = 576;
  s.forwarded = 10;
  s.forwarded_bytes = 480;
  s.replied = 9;
  s.replied_bytes = 432;
  s.replied_truncated = 2;
  EXPECT_EQ(lines("udpx_frontend_re"),
            (std::vector<std::string>{"udpx_frontend_received_packets_total{frontend=\"lan\"} 12",
                                      "udpx_frontend_received_bytes_total{frontend=\"lan\"} 576",
                                      "udpx_frontend_replied_packets_total{frontend=\"lan\"} 9",
                                      "udpx_frontend_replied_bytes_total{frontend=\"lan\"} 432",
                                      "udpx_frontend_replied_truncated_packets_total{frontend=\"lan\"} 2"}));
  EXPECT_EQ(lines("udpx_frontend_forwarded"),
            (std::vector<std::string>{"udpx_frontend_forwarded_packets_total{frontend=\"lan\"} 10",
                                      "udpx_frontend_forwarded_bytes_total{frontend=\"lan\"} 480"}));
}

TEST_F(MetricsCollectorTest, ExportsEveryDropReasonIncludingZeros) {
  frontends_[0]->stats.drop(Drop::Acl);
  frontends_[0]->stats.drop(Drop::Control);
  frontends_[0]->stats.drop(Drop::Control);
  frontends_[0]->stats.drop(Drop::ReplyUnmatched);
  const std::vector<std::string> got = lines("udpx_frontend_dropped_packets_total{");
  ASSERT_EQ(got.size(), kDropCount);
  EXPECT_EQ(got[0], "udpx_frontend_dropped_packets_total{frontend=\"lan\",reason=\"acl\"} 1");
  EXPECT_EQ(got[1], "udpx_frontend_dropped_packets_total{frontend=\"lan\",reason=\"malformed\"} 0");
  EXPECT_EQ(got[3], "udpx_frontend_dropped_packets_total{frontend=\"lan\",reason=\"control\"} 2");
  EXPECT_EQ(got[10], "udpx_frontend_dropped_packets_total{frontend=\"lan\",reason=\"reply_unmatched\"} 1");
  EXPECT_EQ(got[13], "udpx_frontend_dropped_packets_total{frontend=\"lan\",reason=\"reply_send_error\"} 0");
}

TEST_F(MetricsCollectorTest, ExportsSessionsByHowTheyEnded) {
  FrontendStats& s = frontends_[0]->stats;
  s.sessions_created = 7;
  s.sessions_expired = 3;
  s.sessions_evicted = 2;
  s.sessions_closed = 1;
  s.sessions_evicted_per_client = 4;
  EXPECT_EQ(lines("udpx_frontend_sessions"),
            (std::vector<std::string>{"udpx_frontend_sessions_active{frontend=\"lan\"} 0",
                                      "udpx_frontend_sessions_limit{frontend=\"lan\"} 4096",
                                      "udpx_frontend_sessions_created_total{frontend=\"lan\"} 7",
                                      "udpx_frontend_sessions_ended_total{frontend=\"lan\",reason=\"expired\"} 3",
                                      "udpx_frontend_sessions_ended_total{frontend=\"lan\",reason=\"evicted\"} 2",
                                      "udpx_frontend_sessions_ended_total{frontend=\"lan\",reason=\"closed\"} 1",
                                      "udpx_frontend_sessions_ended_total{frontend=\"lan\",reason=\"evicted_per_client\"} "
                                      "4"}));
}

TEST_F(MetricsCollectorTest, ExportsServerTrafficAndHealth) {
  Server& a = backends_[0]->servers()[0];
  a.stats.sessions = 4;
  a.stats.forwarded = 40;
  a.stats.replied = 38;
  a.health.probes = 10;
  a.health.probe_failures = 2;
  a.health.unanswered = 2;
  a.health.last_rtt_seconds = 0.0125;
  Server& b = backends_[0]->servers()[1];
  b.state.forceDown(t0_);
  const std::string l1 = "{backend=\"up\",server=\"127.0.0.1:123\"}";
  const std::string l2 = "{backend=\"up\",server=\"[::1]:123\"}";
  EXPECT_EQ(lines("udpx_server_up{"), (std::vector<std::string>{"udpx_server_up" + l1 + " 1", "udpx_server_up" + l2 + " 0"}));
  // No RTT sample for a server never probed successfully.
  EXPECT_EQ(lines("udpx_server_probe_rtt_seconds{"),
            (std::vector<std::string>{"udpx_server_probe_rtt_seconds" + l1 + " 0.0125"}));
  EXPECT_EQ(lines("udpx_server_probes_total" + l1), (std::vector<std::string>{"udpx_server_probes_total" + l1 + " 10"}));
  EXPECT_EQ(lines("udpx_server_probe_failures_total" + l1),
            (std::vector<std::string>{"udpx_server_probe_failures_total" + l1 + " 2"}));
  EXPECT_EQ(lines("udpx_server_unanswered_requests_total" + l1),
            (std::vector<std::string>{"udpx_server_unanswered_requests_total" + l1 + " 2"}));
  EXPECT_EQ(lines("udpx_server_sessions_total" + l1), (std::vector<std::string>{"udpx_server_sessions_total" + l1 + " 4"}));
  EXPECT_EQ(lines("udpx_server_forwarded_packets_total" + l1),
            (std::vector<std::string>{"udpx_server_forwarded_packets_total" + l1 + " 40"}));
  EXPECT_EQ(lines("udpx_server_replied_packets_total" + l1),
            (std::vector<std::string>{"udpx_server_replied_packets_total" + l1 + " 38"}));
}

TEST_F(MetricsCollectorTest, RefusingServerIsDownUntilTriedAgain) {
  Server& a = backends_[0]->servers()[0];
  backends_[0]->markRefused(a, t0_);
  const std::string l1 = "{backend=\"up\",server=\"127.0.0.1:123\"}";
  EXPECT_EQ(lines("udpx_server_up" + l1, t0_ + milliseconds(9999)),
            (std::vector<std::string>{"udpx_server_up" + l1 + " 0"}));
  // Without probes, the fail_timeout timer tries it again (Backend::retry).
  backends_[0]->retry(a, t0_ + milliseconds(10000));
  EXPECT_EQ(lines("udpx_server_up" + l1, t0_ + milliseconds(10000)),
            (std::vector<std::string>{"udpx_server_up" + l1 + " 1"}));
  EXPECT_EQ(lines("udpx_server_refused_total" + l1), (std::vector<std::string>{"udpx_server_refused_total" + l1 + " 1"}));
}

TEST_F(MetricsCollectorTest, ExportsReloadsByResultAndBuildInfo) {
  reloads_.succeeded = 3;
  reloads_.failed = 1;
  EXPECT_EQ(lines("udpx_config_reloads_total"),
            (std::vector<std::string>{"udpx_config_reloads_total{result=\"success\"} 3",
                                      "udpx_config_reloads_total{result=\"failure\"} 1"}));
  const std::vector<std::string> info = lines("udpx_build_info{");
  ASSERT_EQ(info.size(), 1u);
  EXPECT_NE(info[0].find("version=\""), std::string::npos);
  EXPECT_EQ(info[0].substr(info[0].size() - 2), " 1");
}

TEST_F(MetricsCollectorTest, CountersAreExactBeyondThirtyTwoBits) {
  frontends_[0]->stats.forwarded_bytes = 123456789012345ULL;
  EXPECT_EQ(lines("udpx_frontend_forwarded_bytes_total"),
            (std::vector<std::string>{"udpx_frontend_forwarded_bytes_total{frontend=\"lan\"} 123456789012345"}));
}

TEST_F(MetricsCollectorTest, EveryFamilyHasHelpAndTypeAndPrometheusStyleNames) {
  for (const auto& f : collector().collect(t0_)) {
    EXPECT_FALSE(f.help.empty()) << f.name;
    EXPECT_EQ(f.help.find_first_of("\\\n"), std::string::npos) << f.name << ": the serialiser does not escape HELP";
    const bool is_total = f.name.size() > 6 && f.name.substr(f.name.size() - 6) == "_total";
    EXPECT_EQ(f.type == prometheus::MetricType::Counter, is_total) << f.name << ": counters, and only they, end in _total";
    EXPECT_EQ(f.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string::npos) << f.name;
  }
}

TEST_F(MetricsCollectorTest, ProcessMetricsOnlyWithAProcessSource) {
  EXPECT_TRUE(lines("process_").empty());
  ProcessStats process;
  ASSERT_EQ(process.problem(), "");
  std::vector<std::string> names;
  for (const auto& f : collector(&process).collect(t0_)) {
    if (f.name.rfind("process_", 0) == 0) {
      names.push_back(f.name);
      EXPECT_EQ(f.metric.size(), 1u) << f.name;
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"process_cpu_seconds_total", "process_resident_memory_bytes",
                                             "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                                             "process_start_time_seconds"}));
}

}  // namespace
}  // namespace udpx

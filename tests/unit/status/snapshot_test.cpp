// takeSnapshot (src/status/snapshot.cpp): what it copies and the findings it judges; and that
// every declared counter reaches both exporters, /metrics and the status JSON.
#include "status/snapshot.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <random>
#include <algorithm>
#include <string>
#include <vector>

#include "backends/health.h"
#include "net/event_ptr.h"
#include "status/metrics.h"
#include "status/snapshot_json.h"
#include "status_objects.h"

namespace udpx {
namespace {

// ---- every declared counter in both exports ----

using Labels = std::vector<prometheus::ClientMetric::Label>;

// The value /metrics gives for the sample of `metric` with exactly `labels`, checking the
// family's HELP and TYPE against the declaration on the way.
std::optional<double> metricValue(const std::vector<prometheus::MetricFamily>& families, std::string_view metric,
                                  std::string_view help, const Labels& labels) {
  for (const prometheus::MetricFamily& f : families) {
    if (f.name != metric) continue;
    EXPECT_EQ(f.help, help) << metric;
    EXPECT_EQ(f.type, prometheus::MetricType::Counter) << metric;
    for (const prometheus::ClientMetric& m : f.metric) {
      if (m.label == labels) return m.counter.value;
    }
  }
  return std::nullopt;
}

std::string describe(const Labels& labels) {
  std::string out;
  for (const auto& l : labels) out += (out.empty() ? "" : ",") + l.name + "=" + l.value;
  return "{" + out + "}";
}

// A snapshot with one frontend, one server and every counter of theirs (and the reloads) set to a
// value of its own, so that a counter exported under another's name is caught too.
class SnapshotExports : public ::testing::Test {
 protected:
  SnapshotExports() {
    FrontendSnapshot& f = snap_.frontends.emplace_back();
    f.name = "lan";
    BackendSnapshot& b = snap_.backends.emplace_back();
    b.name = "up";
    ServerSnapshot& s = b.servers.emplace_back();
    s.label = "127.0.0.1:123";
    number(f.counters, kFrontendTrafficCounters);
    number(f.counters, kFrontendSessionCounters);
    f.tcp = true;
    number(f.tcp_counters, kTcpCounters);
    for (std::uint64_t& d : f.counters.dropped) d = next_++;
    number(s.counters, kServerCounters);
    number(s.health, kServerHealthCounters);
    number(snap_.reloads, kReloadCounters);
  }

  template <class Stats, class List>
  void number(Stats& stats, const List& list) {
    for (const auto& c : list) stats.*c.member = next_++;
  }

  // Each counter of `list`, as held in `stats`, is in /metrics with `labels` (plus its own) and
  // in the JSON object `thing` at its key.
  template <class Stats, class List>
  void expectExported(const Stats& stats, const List& list, const Labels& labels, const json::Value& thing) {
    for (const auto& c : list) {
      const double want = static_cast<double>(stats.*c.member);
      Labels l = labels;
      if (!c.label.empty()) l.push_back({std::string(c.label), std::string(c.value)});
      EXPECT_EQ(metricValue(families_, c.metric, c.help, l), want) << c.metric << describe(l) << " in /metrics";
      const json::Value& v = c.group().empty() ? thing[c.key()] : thing[c.group()][c.key()];
      EXPECT_EQ(v.num(-1), want) << c.json << " in the JSON";
    }
  }

  void exportBoth() {
    families_ = metricFamilies(snap_);
    std::string error;
    std::optional<json::Value> doc = json::parse(toJson(snap_), error);
    ASSERT_TRUE(doc) << error;
    doc_ = std::move(*doc);
  }

  Snapshot snap_;
  std::uint64_t next_ = 1001;
  std::vector<prometheus::MetricFamily> families_;
  json::Value doc_;
};

TEST_F(SnapshotExports, EveryDeclaredCounterIsInTheMetricsAndTheJson) {
  exportBoth();
  const FrontendSnapshot& f = snap_.frontends[0];
  const json::Value& fe = doc_["frontends"]["lan"];
  expectExported(f.counters, kFrontendTrafficCounters, {{"frontend", "lan"}}, fe);
  expectExported(f.counters, kFrontendSessionCounters, {{"frontend", "lan"}}, fe);
  expectExported(f.tcp_counters, kTcpCounters, {{"frontend", "lan"}}, fe);
  for (std::size_t i = 0; i < kDropCount; ++i) {
    const std::string reason(dropName(static_cast<Drop>(i)));
    const double want = static_cast<double>(f.counters.dropped[i]);
    EXPECT_EQ(metricValue(families_, kDropCounters.metric, kDropCounters.help,
                          {{"frontend", "lan"}, {std::string(kDropCounters.label), reason}}),
              want)
        << reason << " in /metrics";
    EXPECT_EQ(fe[kDropCounters.json][reason].num(-1), want) << reason << " in the JSON";
  }

  const ServerSnapshot& s = snap_.backends[0].servers[0];
  const Labels server{{"backend", "up"}, {"server", "127.0.0.1:123"}};
  const json::Value& sv = doc_["backends"]["up"]["servers"]["127.0.0.1:123"];
  expectExported(s.counters, kServerCounters, server, sv);
  expectExported(s.health, kServerHealthCounters, server, sv);
  expectExported(snap_.reloads, kReloadCounters, {}, doc_);
}

TEST_F(SnapshotExports, EveryCounterFamilyOfTheMetricsIsDeclared) {
  // The other way round: /metrics has no counter that the lists do not declare (gauges and the
  // process_* values are not counters of a stats struct).
  exportBoth();
  std::vector<std::string_view> declared{kDropCounters.metric};
  auto add = [&](const auto& list) {
    for (const auto& c : list) declared.push_back(c.metric);
  };
  add(kFrontendTrafficCounters);
  add(kFrontendSessionCounters);
  add(kTcpCounters);
  add(kServerCounters);
  add(kServerHealthCounters);
  add(kReloadCounters);
  for (const prometheus::MetricFamily& f : families_) {
    if (f.type != prometheus::MetricType::Counter || f.name.rfind("process_", 0) == 0) continue;
    EXPECT_NE(std::find(declared.begin(), declared.end(), f.name), declared.end()) << f.name;
  }
}

// ---- takeSnapshot ----

class TakeSnapshot : public StatusObjects {
 protected:
  Snapshot take() const { return takeSnapshot(sources(), t0_); }
};

TEST_F(TakeSnapshot, CopiesTheCountersAsTheyAre) {
  frontends_[0]->stats.received = 12;
  frontends_[0]->stats.drop(Drop::Acl);
  backends_[0]->servers()[1].stats.forwarded = 7;
  backends_[0]->servers()[1].health.probes = 3;
  reloads_.failed = 2;
  const Snapshot s = take();
  ASSERT_EQ(s.frontends.size(), 1u);
  EXPECT_EQ(s.frontends[0].counters, frontends_[0]->stats);
  EXPECT_EQ(s.frontends[0].sessions_max, 4096u);
  EXPECT_EQ(s.frontends[0].sessions_active, 0u) << "not attached to a data path";
  ASSERT_EQ(s.backends.size(), 1u);
  ASSERT_EQ(s.backends[0].servers.size(), 2u);
  EXPECT_EQ(s.backends[0].servers[1].counters.forwarded, 7u);
  EXPECT_EQ(s.backends[0].servers[1].health.probes, 3u);
  EXPECT_EQ(s.reloads, reloads_);
  EXPECT_EQ(s.udpx.config, "/etc/udpx.toml");
  EXPECT_FALSE(s.process) << "no ProcessStats given";
}

TEST_F(TakeSnapshot, ADownServerIsAnErrorWithItsReasonAndHint) {
  Server& a = backends_[0]->servers()[0];
  backends_[0]->markRefused(a, t0_);
  const Snapshot s = take();
  const ServerSnapshot& got = s.backends[0].servers[0];
  EXPECT_TRUE(got.down);
  EXPECT_FALSE(got.up);
  EXPECT_EQ(got.state, "down");
  EXPECT_NE(got.health.since_unix_ms, kStartedUnixMs) << "it changed after the start";
  EXPECT_EQ(s.backends[0].servers[1].health.since_unix_ms, kStartedUnixMs) << "never changed: since the start";
  EXPECT_EQ(s.backends[0].state, "degraded");
  EXPECT_EQ(s.backends[0].servers_up, 1u);
  EXPECT_FALSE(s.ok());
  ASSERT_GE(s.findings.size(), 1u);
  const Finding& f = s.findings[0];
  EXPECT_EQ(f.severity, "error");
  EXPECT_EQ(f.subject, "backend up, server 127.0.0.1:123");
  EXPECT_EQ(f.problem, a.health.reason);
  EXPECT_EQ(f.hint, a.health.hint);
  EXPECT_FALSE(f.hint.empty());
}

TEST_F(TakeSnapshot, ABackendWithoutServersIsAnError) {
  BackendConfig empty;
  empty.name = "none";
  backends_.push_back(std::make_unique<Backend>(empty, nullptr, nullptr));
  const Snapshot s = take();
  EXPECT_EQ(s.backends[1].state, "empty");
  ASSERT_EQ(s.findings.size(), 1u);
  EXPECT_EQ(s.findings[0].subject, "backend none");
  EXPECT_EQ(s.findings[0].problem, "no server address: requests through it are dropped");
  EXPECT_FALSE(s.ok());
}

// ---- every figure in a sentence is the figure in the counters ----

// A backend "probed" with active ntp probes (never started: the test reports their results).
class TakeSnapshotProbed : public TakeSnapshot {
 protected:
  TakeSnapshotProbed() : base_(event_base_new()), rng_(1) {
    BackendConfig bc;
    bc.name = "probed";
    bc.health.probe.type = ProbeType::Ntp;
    bc.health.rise = 2;
    bc.health.fall = 3;
    ServerConfig sc;
    sc.text = "127.0.0.5:123";
    sc.literal = *SockAddr::parse(sc.text);
    bc.servers.push_back(sc);
    backends_.push_back(std::make_unique<Backend>(bc, base_.get(), &rng_));
  }
  Backend& probed() { return *backends_.back(); }
  Server& probedServer() { return probed().servers()[0]; }
  std::vector<Finding> findingsOf(const Snapshot& s) const {
    std::vector<Finding> out;
    for (const Finding& f : s.findings) {
      if (f.subject.find("backend probed") == 0) out.push_back(f);
    }
    return out;
  }
  static SockAddr client(int i) { return *SockAddr::parse("192.0.2." + std::to_string(i) + ":5000"); }

  EventBasePtr base_;
  std::mt19937_64 rng_;
};

TEST_F(TakeSnapshotProbed, TheNoReplySentenceCountsTheFailedProbesAndNothingElse) {
  Server& sv = probedServer();
  sv.health.probes = 3;  // the prober counts what it sends
  for (int i = 0; i < 3; ++i) {
    // Silent client sessions in between (junk, rate-limited clients) are no failed probes.
    for (int c = 0; c < 40; ++c) probed().passiveUnanswered(sv, client(c), 1, t0_, true);
    probed().probeFailed(sv, t0_, Problem::NoReply, "", "", false);
  }
  const Snapshot s = take();
  const ServerSnapshot& got = s.backends.back().servers[0];
  EXPECT_EQ(got.health.probe_failures, 3u);
  EXPECT_EQ(got.consecutive_failures, 3u);
  EXPECT_EQ(got.health.unanswered, 120u);
  const auto f = findingsOf(s);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].problem, "no reply from 127.0.0.5:123 to the last probe (3 failed in a row)");
  EXPECT_EQ(f[1].problem, "its only server is down (for 0s): forwarding to it anyway (fail open)");
}

TEST_F(TakeSnapshotProbed, AFailedProbeWarnsUntilTheNextGoodOne) {
  Server& sv = probedServer();
  probed().probeFailed(sv, t0_, Problem::NoReply, "", "", false);
  auto f = findingsOf(take());
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, "warning");
  EXPECT_EQ(f[0].problem, "no reply from 127.0.0.5:123 to the last probe");
  probed().probeSucceeded(sv, t0_);
  EXPECT_EQ(findingsOf(take()).size(), 0u) << "the warning clears";
}

TEST_F(TakeSnapshotProbed, RequestsUnansweredAlthoughProbesSucceedAreSaidWithTheCounter) {
  Server& sv = probedServer();
  for (int c = 0; c < 57; ++c) probed().passiveUnanswered(sv, client(c % 3), 1, t0_, true);
  probed().probeSucceeded(sv, t0_);
  const Snapshot s = take();
  EXPECT_EQ(s.backends.back().servers[0].state, "up");
  const auto f = findingsOf(s);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].severity, "warning");
  EXPECT_EQ(f[0].problem, std::to_string(s.backends.back().servers[0].health.unanswered) +
                              " requests from clients went unanswered although probes succeed: the server ignores "
                              "them (its rate limit? malformed requests?)");
  EXPECT_EQ(s.backends.back().servers[0].health.unanswered, 57u);
  EXPECT_EQ(f[0].hint.find("does it allow"), std::string::npos) << "it blames no access rule";
  // A minute later without more of them, it has cleared.
  EXPECT_EQ(findingsOf(takeSnapshot(sources(), t0_ + std::chrono::seconds(61))).size(), 0u);
}

TEST_F(TakeSnapshot, AllDownCountsTheServersInThePoolAsTheLogDoes) {
  Backend& be = *backends_[0];
  Server& gone = be.servers()[1];
  gone.active_sessions = 1;  // draining, not yet freed
  be.drain(gone, t0_);
  testing::internal::CaptureStderr();
  be.markRefused(be.servers()[0], t0_);
  const std::string log = testing::internal::GetCapturedStderr();
  const Snapshot s = take();
  EXPECT_EQ(s.backends[0].servers_in_pool, 1u);
  EXPECT_EQ(s.backends[0].servers_up, 0u);
  EXPECT_NE(log.find("ALL 1 servers are down"), std::string::npos) << log;
  ASSERT_EQ(s.findings.size(), 2u);
  EXPECT_EQ(s.findings[1].problem, "its only server is down (for 0s): forwarding to it anyway (fail open)");
  gone.active_sessions = 0;
  be.sweep();
}

}  // namespace
}  // namespace udpx

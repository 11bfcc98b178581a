// The status document (src/status/snapshot_json.cpp): what toJson writes, snapshotFromJson
// reads back, member for member.
#include "status/snapshot_json.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace udpx {

// gtest shows a snapshot, or a part of one, as its document.
void PrintTo(const Snapshot& s, std::ostream* os) { *os << toJson(s); }
void PrintTo(const FrontendSnapshot& f, std::ostream* os) {
  Snapshot s;
  s.frontends = {f};
  PrintTo(s, os);
}
void PrintTo(const ServerSnapshot& sv, std::ostream* os) {
  Snapshot s;
  s.backends.emplace_back().servers = {sv};
  PrintTo(s, os);
}
void PrintTo(const NameSnapshot& n, std::ostream* os) {
  Snapshot s;
  s.backends.emplace_back().names = {n};
  PrintTo(s, os);
}

namespace {

// A snapshot with a value in every member the document carries.
Snapshot full() {
  Snapshot s;
  FrontendSnapshot& f = s.frontends.emplace_back();
  f.name = "lan_ntp";
  f.preset = "ntp";
  f.backend = "up";
  f.listen = {"127.0.0.1:123", "[::1]:123"};
  f.counters.received = 9;
  f.counters.replied_bytes = 480;
  f.counters.drop(Drop::ReplyUnmatched);
  f.counters.sessions_evicted = 2;
  f.sessions_active = 3;
  f.sessions_max = 4096;
  f.table_full = true;
  f.tcp = true;
  f.tcp_counters.accepted = 12;
  f.tcp_counters.refused_upstream = 4;
  f.tcp_counters.bytes_to_client = 7000;
  f.tcp_open = 2;
  f.tcp_max = 512;
  f.tcp_max_per_client = 16;

  BackendSnapshot& b = s.backends.emplace_back();
  b.name = "up";
  b.balance = "first";
  b.on_all_down = "drop";
  b.all_down = true;
  b.state = "down";
  b.servers_in_pool = 1;
  b.health = {"ntp", true, 10000, 1000, 2, 3};
  NameSnapshot& pool = b.names.emplace_back();
  pool.origin = "pool.example.org:123";
  pool.host = "pool.example.org";
  pool.addresses = {"192.0.2.1"};
  pool.resolved_unix_ms = 5000;
  pool.ttl_s = 300;
  pool.error = "SERVFAIL";
  pool.resolver = "/etc/resolv.conf";
  pool.next_in_ms = 299000;
  NameSnapshot& local = b.names.emplace_back();
  local.origin = "localhost:123";
  local.host = "localhost";
  local.from_hosts = true;

  ServerSnapshot& sv = b.servers.emplace_back();
  sv.label = "192.0.2.1:123";
  sv.origin = "pool.example.org:123";
  sv.state = "down";
  sv.down = true;
  sv.up = false;
  sv.active_sessions = 1;
  sv.counters = {5, 9, 4, 1};
  sv.health.probes = 8;
  sv.health.probe_failures = 3;
  sv.health.unanswered = 2;
  sv.health.since_unix_ms = 900000;
  sv.health.last_rtt_seconds = 0.00042;
  sv.health.reason = "no reply from 192.0.2.1:123 to 3 probes";
  sv.health.hint = "does it allow \"queries\"?";
  sv.consecutive_failures = 3;
  sv.last_probe = "failed";
  sv.probe_interval_ms = 10000;
  ServerSnapshot& other = b.servers.emplace_back();
  other.label = other.origin = "192.0.2.2:123";
  other.state = "up";
  other.last_probe = "none";

  // NOTE: not `sv`: the emplace_back above may have moved the servers.
  const ServerSnapshot& first = b.servers.front();
  s.findings.push_back({"error", "backend up, server 192.0.2.1:123", first.health.reason, first.health.hint});
  s.findings.push_back({"warning", "backend up", "SERVFAIL; using its last known addresses (1)", "check it"});
  s.reloads = {4, 1};
  s.udpx = {"0.1.0", 42, "/etc/udpx.toml", 880000, 1060000};
  return s;
}

Snapshot roundTrip(const Snapshot& s) {
  std::string error;
  const auto doc = json::parse(toJson(s), error);
  EXPECT_TRUE(doc) << error;
  return doc ? snapshotFromJson(*doc) : Snapshot{};
}

TEST(SnapshotJson, ReadsBackWhatItWrote) {
  const Snapshot s = full();
  const Snapshot back = roundTrip(s);
  // Member by member first, so that a failure says where.
  ASSERT_EQ(back.frontends.size(), 1u);
  EXPECT_EQ(back.frontends[0], s.frontends[0]);
  ASSERT_EQ(back.backends.size(), 1u);
  EXPECT_EQ(back.backends[0].names, s.backends[0].names);
  EXPECT_EQ(back.backends[0].servers, s.backends[0].servers);
  EXPECT_EQ(back.findings, s.findings);
  EXPECT_EQ(back.reloads, s.reloads);
  EXPECT_EQ(back.udpx, s.udpx);
  EXPECT_EQ(back, s);
}

TEST(SnapshotJson, OkIsFalseWhenAFindingIsAnError) {
  Snapshot s = full();
  std::string error;
  EXPECT_FALSE((*json::parse(toJson(s), error))["ok"].flag(true));
  s.findings.erase(s.findings.begin());
  EXPECT_TRUE((*json::parse(toJson(s), error))["ok"].flag(false));
}

TEST(SnapshotJson, AServerWithoutAGoodProbeHasANullRoundTrip) {
  Snapshot s = full();
  const std::string text = toJson(s);
  EXPECT_NE(text.find("\"last_rtt_seconds\": 0.00042,"), std::string::npos) << text;
  EXPECT_NE(text.find("\"last_rtt_seconds\": null"), std::string::npos) << text;
}

// Any text can reach `udpx status`: numbers beyond an integer's range read as its bounds (a
// double out of range converts undefined; tests/fuzz/corpus/status_json/seed-huge-numbers).
TEST(SnapshotJson, NumbersOutOfRangeReadAsTheBounds) {
  std::string error;
  const auto doc = json::parse(
      R"({"udpx": {"started_unix_ms": 1e300, "now_unix_ms": -1e300, "pid": -0.5},)"
      R"( "frontends": {"a": {"received": 1e400, "forwarded": -1e400, "replied": 1.8446744073709552e19}},)"
      R"( "reloads": {"config_hash": 1e19}})",
      error);
  ASSERT_TRUE(doc) << error;
  const Snapshot s = snapshotFromJson(*doc);
  EXPECT_EQ(s.udpx.started_unix_ms, INT64_MAX);
  EXPECT_EQ(s.udpx.now_unix_ms, INT64_MIN);
  EXPECT_EQ(s.udpx.pid, 0);
  ASSERT_EQ(s.frontends.size(), 1u);
  EXPECT_EQ(s.frontends[0].counters.received, UINT64_MAX);
  EXPECT_EQ(s.frontends[0].counters.forwarded, 0u);
  EXPECT_EQ(s.frontends[0].counters.replied, UINT64_MAX);
  EXPECT_EQ(s.reload.config_hash, static_cast<std::uint64_t>(INT64_MAX));
}

// An infinite round trip read back was written as "inf", which is not JSON: now null.
TEST(SnapshotJson, AnInfiniteRoundTripIsWrittenAsNull) {
  std::string error;
  const auto doc = json::parse(
      R"({"backends": {"b": {"servers": {"s": {"health": {"last_rtt_seconds": 1e400}}}}}})", error);
  ASSERT_TRUE(doc) << error;
  const std::string text = toJson(snapshotFromJson(*doc));
  EXPECT_NE(text.find("\"last_rtt_seconds\": null"), std::string::npos) << text;
  EXPECT_TRUE(json::parse(text, error)) << error << ": " << text;
}

// A large round trip read back was cut to 31 digits without its point ("%.6f" into 32 bytes), a
// different number, so the document did not read back to itself (status_json fuzz target).
TEST(SnapshotJson, EveryRoundTripTimeReadsBackAsTheSameNumber) {
  for (const char* rtt : {"3.3333333333333332e+30", "1e300", "0.00042", "123456789.125", "5e-324"}) {
    std::string error;
    const auto doc = json::parse(std::string(R"({"backends": {"b": {"servers": {"s": {"health": {"last_rtt_seconds": )") +
                                     rtt + "}}}}}}",
                                 error);
    ASSERT_TRUE(doc) << error;
    const Snapshot first = snapshotFromJson(*doc);
    const std::string text = toJson(first);
    const auto again = json::parse(text, error);
    ASSERT_TRUE(again) << error << ": " << text;
    const Snapshot second = snapshotFromJson(*again);
    ASSERT_EQ(second.backends.size(), 1u) << text;
    ASSERT_EQ(second.backends[0].servers.size(), 1u) << text;
    EXPECT_EQ(second.backends[0].servers[0].health.last_rtt_seconds, first.backends[0].servers[0].health.last_rtt_seconds)
        << rtt << " written as: " << text;
    EXPECT_EQ(toJson(second), text) << rtt;
  }
}

}  // namespace
}  // namespace udpx

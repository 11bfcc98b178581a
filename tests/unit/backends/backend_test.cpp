// Backend: round-robin and first balancing over healthy servers, health signals (probes,
// ICMP refused, unanswered requests) changing a server's state, fail-open or drop when all
// are down, and draining servers that left DNS.
#include "backends/backend.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/event_ptr.h"

namespace udpx {
namespace {

using std::chrono::milliseconds;

const TimePoint t0 = TimePoint{} + std::chrono::hours(1);

BackendConfig config(int n, Balance balance = Balance::RoundRobin, ProbeType probe = ProbeType::None) {
  BackendConfig c;
  c.name = "b";
  c.balance = balance;
  c.health.probe.type = probe;
  c.health.rise = 2;
  c.health.fall = 3;
  for (int i = 0; i < n; ++i) {
    ServerConfig s;
    s.literal = *SockAddr::parse("127.0.0." + std::to_string(i + 1) + ":123");
    s.text = s.literal->toString();
    c.servers.push_back(s);
  }
  return c;
}

std::vector<std::string> picks(Backend& b, int n) {
  std::vector<std::string> got;
  for (int i = 0; i < n; ++i) {
    Server* s = b.pick();
    got.push_back(s == nullptr ? "none" : s->label());
  }
  return got;
}

Server& server(Backend& b, std::size_t i) { return b.servers()[i]; }

TEST(Backend, RoundRobinTakesServersInTurn) {
  Backend b(config(3), nullptr, nullptr);
  EXPECT_EQ(picks(b, 6), (std::vector<std::string>{"127.0.0.1:123", "127.0.0.2:123", "127.0.0.3:123",
                                                   "127.0.0.1:123", "127.0.0.2:123", "127.0.0.3:123"}));
}

TEST(Backend, RoundRobinSkipsARefusingServerUntilItIsTriedAgain) {
  Backend b(config(3), nullptr, nullptr);
  b.markRefused(server(b, 1), t0);
  EXPECT_EQ(server(b, 1).stats.refused, 1u);
  EXPECT_FALSE(server(b, 1).eligible());
  EXPECT_EQ(server(b, 1).stateName(), "down");
  EXPECT_NE(server(b, 1).health.reason.find("ICMP port unreachable"), std::string::npos);
  for (const std::string& l : picks(b, 6)) EXPECT_NE(l, "127.0.0.2:123");
  // Without probes, the fail_timeout timer tries it again.
  b.retry(server(b, 1), t0 + milliseconds(10000));
  EXPECT_TRUE(server(b, 1).eligible());
  EXPECT_TRUE(server(b, 1).state.up());
  EXPECT_TRUE(server(b, 1).health.reason.empty());
  const auto got = picks(b, 3);
  EXPECT_NE(std::find(got.begin(), got.end(), "127.0.0.2:123"), got.end());
}

TEST(Backend, FirstPrefersTheFirstHealthyServer) {
  Backend b(config(3, Balance::First), nullptr, nullptr);
  EXPECT_EQ(picks(b, 2), (std::vector<std::string>{"127.0.0.1:123", "127.0.0.1:123"}));
  b.markRefused(server(b, 0), t0);
  EXPECT_EQ(picks(b, 1)[0], "127.0.0.2:123");
  b.markRefused(server(b, 1), t0);
  EXPECT_EQ(picks(b, 1)[0], "127.0.0.3:123");
  b.retry(server(b, 0), t0);
  EXPECT_EQ(picks(b, 1)[0], "127.0.0.1:123");
}

TEST(Backend, FailsOpenWhenEveryServerIsDown) {
  Backend rr(config(2), nullptr, nullptr);
  for (Server& s : rr.servers()) rr.markRefused(s, t0);
  EXPECT_TRUE(rr.allDown());
  const auto got = picks(rr, 2);
  EXPECT_NE(got[0], got[1]);
  EXPECT_NE(got[0], "none");
  Backend first(config(2, Balance::First), nullptr, nullptr);
  for (Server& s : first.servers()) first.markRefused(s, t0);
  EXPECT_EQ(picks(first, 2), (std::vector<std::string>{"127.0.0.1:123", "127.0.0.1:123"}));
}

TEST(Backend, DropsWhenEveryServerIsDownAndOnAllDownIsDrop) {
  BackendConfig c = config(2);
  c.on_all_down = OnAllDown::Drop;
  Backend b(c, nullptr, nullptr);
  b.markRefused(server(b, 0), t0);
  EXPECT_EQ(picks(b, 1)[0], "127.0.0.2:123");
  b.markRefused(server(b, 1), t0);
  EXPECT_EQ(picks(b, 1)[0], "none");
  b.retry(server(b, 1), t0);
  EXPECT_FALSE(b.allDown());
  EXPECT_EQ(picks(b, 1)[0], "127.0.0.2:123");
}

TEST(Backend, ProbeFailuresTakeAServerDownAfterFallWithAHint) {
  Backend b(config(2, Balance::RoundRobin, ProbeType::Ntp), nullptr, nullptr);
  Server& s = server(b, 0);
  b.probeFailed(s, t0, Problem::NoReply, "", "", false);
  b.probeFailed(s, t0 + milliseconds(200), Problem::NoReply, "", "", false);
  EXPECT_TRUE(s.eligible());
  b.probeFailed(s, t0 + milliseconds(400), Problem::NoReply, "", "", false);
  EXPECT_FALSE(s.eligible());
  EXPECT_FALSE(s.state.up());
  EXPECT_NE(s.health.since_unix_ms, 0);
  EXPECT_EQ(s.health.reason, "no reply from 127.0.0.1:123 to the last probe (3 failed in a row)");
  EXPECT_EQ(s.health.probe_failures, 3u);
  EXPECT_NE(s.health.hint.find("chrony: `allow`"), std::string::npos);
  b.probeFailed(s, t0 + milliseconds(600), Problem::NoReply, "", "", false);
  EXPECT_EQ(s.health.reason, "no reply from 127.0.0.1:123 to the last probe (4 failed in a row)");
  EXPECT_EQ(s.health.probe_failures, 4u);

  b.probeSucceeded(s, t0 + milliseconds(800));
  EXPECT_FALSE(s.eligible());
  b.probeSucceeded(s, t0 + milliseconds(1000));
  EXPECT_TRUE(s.eligible());
  EXPECT_TRUE(s.health.reason.empty());
}

TEST(Backend, AJudgedRefusalIsDownAtOnce) {
  Backend b(config(1, Balance::RoundRobin, ProbeType::Ntp), nullptr, nullptr);
  b.probeFailed(server(b, 0), t0, Problem::Judged, "the server refuses this host (kiss-o'-death DENY/RSTR)",
                "allow it", true);
  EXPECT_FALSE(server(b, 0).eligible());
  EXPECT_EQ(server(b, 0).health.reason, "127.0.0.1:123: the server refuses this host (kiss-o'-death DENY/RSTR)");
  EXPECT_EQ(server(b, 0).health.hint, "allow it");
  EXPECT_TRUE(b.allDown());
}

SockAddr client(int i) { return *SockAddr::parse("192.0.2." + std::to_string(i) + ":4000"); }

TEST(Backend, UnansweredRequestsCountAndFailOnlyWhereRepliesAreDue) {
  Backend b(config(1), nullptr, nullptr);
  Server& s = server(b, 0);
  for (int i = 0; i < 20; ++i) b.passiveUnanswered(s, client(i), 2, t0, false);
  EXPECT_EQ(s.health.unanswered, 40u);
  EXPECT_TRUE(s.eligible());
  for (int i = 0; i < static_cast<int>(kSilentClientsToFail); ++i) b.passiveUnanswered(s, client(i), 1, t0, true);
  EXPECT_EQ(s.health.unanswered, 40u + kSilentClientsToFail);
  EXPECT_FALSE(s.eligible());
  EXPECT_EQ(s.health.reason, "no reply from 127.0.0.1:123 to requests of 8 different clients in a row (48 requests "
                             "unanswered so far)");
}

TEST(Backend, ManySilentSessionsOfOneClientDoNotTakeAServerDown) {
  Backend b(config(1), nullptr, nullptr);
  Server& s = server(b, 0);
  // One client's junk from new ports, and one IPv6 host's many addresses of its /64.
  for (int port = 1; port < 200; ++port) {
    b.passiveUnanswered(s, *SockAddr::parse("192.0.2.1:" + std::to_string(port)), 1, t0, true);
    b.passiveUnanswered(s, *SockAddr::parse("[2001:db8:1:2::" + std::to_string(port) + "]:123"), 1, t0, true);
  }
  EXPECT_TRUE(s.eligible());
  for (int i = 2; i < static_cast<int>(kSilentClientsToFail) - 1; ++i) b.passiveUnanswered(s, client(i), 1, t0, true);
  EXPECT_TRUE(s.eligible()) << "one client short of " << kSilentClientsToFail;
  b.passiveUnanswered(s, *SockAddr::parse("[::ffff:192.0.2.1]:9"), 1, t0, true);
  EXPECT_TRUE(s.eligible()) << "192.0.2.1 through a dual-stack socket is the same client";
  b.passiveUnanswered(s, client(99), 1, t0, true);
  EXPECT_FALSE(s.eligible());
}

TEST(Backend, PassiveEvidenceNeverOverridesProbes) {
  EventBasePtr base(event_base_new());
  std::mt19937_64 rng(1);
  Backend b(config(1, Balance::RoundRobin, ProbeType::Ntp), base.get(), &rng);
  Server& s = server(b, 0);
  for (int i = 0; i < 100; ++i) b.passiveUnanswered(s, client(i), 1, t0, true);
  b.markRefused(s, t0);
  EXPECT_TRUE(s.eligible());
  EXPECT_EQ(s.health.unanswered, 100u);
  EXPECT_EQ(s.stats.refused, 1u);
  EXPECT_EQ(s.state.failures(), 0u);
  for (int i = 0; i < 3; ++i) b.probeFailed(s, t0, Problem::NoReply, "", "", false);
  EXPECT_FALSE(s.eligible());
  b.passiveReply(s, t0);
  b.passiveReply(s, t0);
  EXPECT_FALSE(s.eligible()) << "only probes bring it back";
}

TEST(Backend, AReplyOnRealTrafficResetsTheSilentClients) {
  Backend b(config(1), nullptr, nullptr);
  Server& s = server(b, 0);
  for (int i = 0; i < static_cast<int>(kSilentClientsToFail) - 1; ++i) b.passiveUnanswered(s, client(i), 1, t0, true);
  b.passiveReply(s, t0);
  for (int i = 20; i < 20 + static_cast<int>(kSilentClientsToFail) - 1; ++i) {
    b.passiveUnanswered(s, client(i), 1, t0, true);
  }
  EXPECT_TRUE(s.eligible());
}

TEST(Backend, NewAddressesWaitForAProbeWhenThereAreProbes) {
  EventBasePtr base(event_base_new());
  std::mt19937_64 rng(1);
  Backend b(config(1, Balance::RoundRobin, ProbeType::Ntp), base.get(), &rng);
  Server& added = b.addServer(*SockAddr::parse("127.0.0.9:123"), "pool.test", true, t0);
  EXPECT_EQ(added.stateName(), "pending");
  EXPECT_EQ(picks(b, 3), (std::vector<std::string>{"127.0.0.1:123", "127.0.0.1:123", "127.0.0.1:123"}));
  b.probeSucceeded(added, t0);
  b.probeSucceeded(added, t0);
  EXPECT_EQ(added.stateName(), "up");

  Backend passive(config(1), base.get(), &rng);
  EXPECT_EQ(passive.addServer(*SockAddr::parse("127.0.0.9:123"), "pool.test", true, t0).stateName(), "up");
}

TEST(Backend, AMovedNameKeepsItsOldAddressUntilTheNewOneIsUp) {
  EventBasePtr base(event_base_new());
  std::mt19937_64 rng(1);
  BackendConfig c = config(0, Balance::RoundRobin, ProbeType::Ntp);
  c.on_all_down = OnAllDown::Drop;
  Backend b(c, base.get(), &rng);
  const SockAddr old_addr = *SockAddr::parse("127.0.0.2:123");
  const SockAddr new_addr = *SockAddr::parse("127.0.0.3:123");
  b.applyAddresses("ntp.test:123", {old_addr}, false, t0);
  b.applyAddresses("ntp.test:123", {new_addr}, true, t0);
  ASSERT_EQ(b.servers().size(), 2u);
  Server& old_server = server(b, 0);
  Server& new_server = server(b, 1);
  EXPECT_EQ(new_server.stateName(), "pending");
  EXPECT_NE(new_server.health.since_unix_ms, 0) << "pending since it was added, not since the start";
  EXPECT_FALSE(b.allDown());
  EXPECT_EQ(picks(b, 2), (std::vector<std::string>{"127.0.0.2:123", "127.0.0.2:123"}));
  // The new address fails its probes for a while: the old one serves on.
  b.probeFailed(new_server, t0, Problem::Refused, "", "", true);
  EXPECT_EQ(picks(b, 1)[0], "127.0.0.2:123");
  b.probeSucceeded(new_server, t0);
  b.probeSucceeded(new_server, t0);
  EXPECT_EQ(new_server.stateName(), "up");
  EXPECT_EQ(old_server.stateName(), "draining");
  EXPECT_EQ(picks(b, 2), (std::vector<std::string>{"127.0.0.3:123", "127.0.0.3:123"}));
  EXPECT_EQ(b.inPool(), 1u);
}

TEST(Backend, AMovedNameIsReplacedAtOnceWithoutProbes) {
  Backend b(config(0), nullptr, nullptr);
  b.applyAddresses("ntp.test:123", {*SockAddr::parse("127.0.0.2:123")}, false, t0);
  b.applyAddresses("ntp.test:123", {*SockAddr::parse("127.0.0.3:123")}, true, t0);
  EXPECT_EQ(server(b, 0).stateName(), "draining");
  EXPECT_EQ(server(b, 1).stateName(), "up");
}

TEST(Backend, DrainedServersTakeNoSessionsAndAreFreedWhenTheirLastSessionEnds) {
  Backend b(config(2), nullptr, nullptr);
  Server& gone = server(b, 1);
  gone.active_sessions = 1;
  b.drain(gone, t0);
  EXPECT_EQ(gone.stateName(), "draining");
  EXPECT_EQ(picks(b, 3), (std::vector<std::string>{"127.0.0.1:123", "127.0.0.1:123", "127.0.0.1:123"}));
  EXPECT_EQ(b.sweep(), 1u);
  EXPECT_EQ(b.servers().size(), 2u);
  gone.active_sessions = 0;
  EXPECT_EQ(b.sweep(), 0u);
  ASSERT_EQ(b.servers().size(), 1u);
  EXPECT_EQ(server(b, 0).label(), "127.0.0.1:123");
}

TEST(Backend, EmptyPoolPicksNothing) {
  Backend b(config(0), nullptr, nullptr);
  EXPECT_EQ(b.pick(), nullptr);
  EXPECT_FALSE(b.allDown());
}

TEST(Backend, ServersPointBackToTheirBackend) {
  Backend b(config(2), nullptr, nullptr);
  for (const Server& s : b.servers()) EXPECT_EQ(s.backend, &b);
}

}  // namespace
}  // namespace udpx

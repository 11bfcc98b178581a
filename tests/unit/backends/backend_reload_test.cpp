// Backend::reconfigure and retire (reloads): servers that stay keep their state and sessions,
// new ones are probed first unless nothing else could take the traffic, removed ones drain.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "backends/backend.h"
#include "net/event_ptr.h"

namespace udpx {
namespace {

const TimePoint t0 = TimePoint{} + std::chrono::hours(1);

BackendConfig config(std::vector<std::string> addrs, ProbeType probe = ProbeType::None) {
  BackendConfig c;
  c.name = "b";
  c.health.probe.type = probe;
  c.health.rise = 2;
  c.health.fall = 3;
  for (const std::string& a : addrs) {
    ServerConfig s;
    s.literal = *SockAddr::parse(a);
    s.text = a;
    c.servers.push_back(s);
  }
  return c;
}

std::vector<std::string> states(const Backend& b) {
  std::vector<std::string> out;
  for (const Server& s : b.servers()) out.push_back(s.label() + " " + std::string(s.stateName()));
  return out;
}

TEST(BackendReload, KeptServersKeepStateAndSessionsNewOnesAreProbedRemovedOnesDrain) {
  EventBasePtr base(event_base_new());
  std::mt19937_64 rng(1);
  Backend b(config({"127.0.0.1:123", "127.0.0.2:123"}, ProbeType::Ntp), base.get(), &rng);
  Server& kept = b.servers()[1];
  kept.active_sessions = 2;
  kept.stats.forwarded = 7;
  Server& gone = b.servers()[0];
  gone.active_sessions = 1;
  b.reconfigure(config({"127.0.0.2:123", "127.0.0.3:123"}, ProbeType::Ntp), t0);
  EXPECT_EQ(states(b), (std::vector<std::string>{"127.0.0.1:123 draining", "127.0.0.2:123 up",
                                                 "127.0.0.3:123 pending"}));
  EXPECT_EQ(&b.servers()[1], &kept);
  EXPECT_EQ(kept.active_sessions, 2u);
  EXPECT_EQ(kept.stats.forwarded, 7u);
  // Only the kept server takes new sessions until the new one is probed healthy.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.pick(), &kept);
  EXPECT_FALSE(b.allDown());
  gone.active_sessions = 0;
  EXPECT_EQ(b.sweep(), 0u);
  EXPECT_EQ(b.servers().size(), 2u);
}

TEST(BackendReload, ReplacingEveryServerNeverLeavesTheBackendAllDown) {
  EventBasePtr base(event_base_new());
  std::mt19937_64 rng(1);
  Backend b(config({"127.0.0.1:123"}, ProbeType::Ntp), base.get(), &rng);
  b.reconfigure(config({"127.0.0.5:123", "127.0.0.6:123"}, ProbeType::Ntp), t0);
  // Nothing that stays could take the traffic: the new servers start up, as at start-up.
  EXPECT_EQ(states(b), (std::vector<std::string>{"127.0.0.5:123 up", "127.0.0.6:123 up"}));
  EXPECT_FALSE(b.allDown());
  ASSERT_NE(b.pick(), nullptr);
  EXPECT_EQ(b.pick()->addr().port(), 123);
}

TEST(BackendReload, SettingsApplyAtOnce) {
  Backend b(config({"127.0.0.1:123", "127.0.0.2:123"}), nullptr, nullptr);
  EXPECT_EQ(b.balance(), Balance::RoundRobin);
  BackendConfig next = config({"127.0.0.1:123", "127.0.0.2:123"});
  next.balance = Balance::First;
  next.health.fall = 1;
  b.reconfigure(next, t0);
  EXPECT_EQ(b.balance(), Balance::First);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.pick(), &b.servers()[0]);
  // The new fall threshold: one failure is enough now.
  b.probeFailed(b.servers()[0], t0, Problem::NoReply, "", "", false);
  EXPECT_EQ(b.servers()[0].stateName(), "down");
}

TEST(BackendReload, RetiredBackendDrainsEveryServer) {
  Backend b(config({"127.0.0.1:123", "127.0.0.2:123"}), nullptr, nullptr);
  b.servers()[0].active_sessions = 3;
  b.retire(t0);
  EXPECT_EQ(states(b), (std::vector<std::string>{"127.0.0.1:123 draining"}));
  EXPECT_EQ(b.activeSessions(), 3u);
  EXPECT_EQ(b.pick() == nullptr || b.pick()->draining, true);
}

}  // namespace
}  // namespace udpx

namespace udpx {
namespace {

BackendConfig withHostName(BackendConfig c, const std::string& text) {
  ServerConfig s;
  s.text = text;
  s.host = text.substr(0, text.find(':'));
  s.port = 123;
  c.servers.push_back(s);
  return c;
}

TEST(BackendReload, AServerOfARemovedNameServesUntilAReplacementIsUp) {
  EventBasePtr base(event_base_new());
  std::mt19937_64 rng(1);
  const BackendConfig before = withHostName(config({}, ProbeType::Ntp), "old.example:123");
  Backend b(before, base.get(), &rng);
  b.applyAddresses("old.example:123", {*SockAddr::parse("192.0.2.1:123")}, false, t0);
  // The reload: the name goes, a literal server comes. Nothing else is up yet.
  b.reconfigure(config({"192.0.2.9:123"}, ProbeType::Ntp), t0);
  b.releaseOrigin("old.example:123", t0);
  EXPECT_EQ(states(b), (std::vector<std::string>{"192.0.2.1:123 up", "192.0.2.9:123 pending"}));
  EXPECT_EQ(b.pick()->label(), "192.0.2.1:123");
  // The new server is probed healthy (rise 2): the old name's server drains.
  Server& fresh = b.servers()[1];
  b.probeSucceeded(fresh, t0);
  EXPECT_EQ(states(b)[0], "192.0.2.1:123 up");
  b.probeSucceeded(fresh, t0);
  EXPECT_EQ(states(b), (std::vector<std::string>{"192.0.2.1:123 draining", "192.0.2.9:123 up"}));
  EXPECT_EQ(b.sweep(), 0u);  // no sessions on it: freed
  EXPECT_EQ(states(b), (std::vector<std::string>{"192.0.2.9:123 up"}));
}

TEST(BackendReload, AServerOfARemovedNameDrainsAtOnceWhenAnotherIsUp) {
  EventBasePtr base(event_base_new());
  std::mt19937_64 rng(1);
  Backend b(withHostName(config({"192.0.2.9:123"}, ProbeType::Ntp), "old.example:123"), base.get(), &rng);
  b.applyAddresses("old.example:123", {*SockAddr::parse("192.0.2.1:123")}, false, t0);
  b.servers()[1].active_sessions = 1;
  b.releaseOrigin("old.example:123", t0);
  EXPECT_EQ(states(b), (std::vector<std::string>{"192.0.2.9:123 up", "192.0.2.1:123 draining"}));
}

}  // namespace
}  // namespace udpx

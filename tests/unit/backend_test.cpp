// Backend: round-robin and first balancing, passive failure skipping, fail-open.
#include "backends/backend.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace udpx {
namespace {

using std::chrono::milliseconds;

std::vector<Server> servers(int n) {
  std::vector<Server> v;
  for (int i = 0; i < n; ++i) {
    SockAddr a = *SockAddr::parse("127.0.0." + std::to_string(i + 1) + ":123");
    v.emplace_back(a, a.toString());
  }
  return v;
}

const TimePoint t0 = TimePoint{} + std::chrono::hours(1);

TEST(Backend, RoundRobinTakesServersInTurn) {
  Backend b("b", Balance::RoundRobin, milliseconds(10000), servers(3));
  std::vector<std::string> got;
  for (int i = 0; i < 6; ++i) got.push_back(b.pick(t0)->label());
  EXPECT_EQ(got, (std::vector<std::string>{"127.0.0.1:123", "127.0.0.2:123", "127.0.0.3:123", "127.0.0.1:123",
                                           "127.0.0.2:123", "127.0.0.3:123"}));
}

TEST(Backend, RoundRobinSkipsRefusingServerUntilFailTimeout) {
  Backend b("b", Balance::RoundRobin, milliseconds(10000), servers(3));
  b.markRefused(b.servers()[1], t0);
  for (int i = 0; i < 6; ++i) EXPECT_NE(b.pick(t0 + milliseconds(i))->label(), "127.0.0.2:123");
  EXPECT_EQ(b.servers()[1].stats.refused, 1u);
  // After fail_timeout it takes its turn again.
  bool seen = false;
  for (int i = 0; i < 3; ++i) seen = seen || b.pick(t0 + milliseconds(10000))->label() == "127.0.0.2:123";
  EXPECT_TRUE(seen);
}

TEST(Backend, FirstPrefersFirstServerAndFailsOver) {
  Backend b("b", Balance::First, milliseconds(5000), servers(3));
  EXPECT_EQ(b.pick(t0)->label(), "127.0.0.1:123");
  EXPECT_EQ(b.pick(t0)->label(), "127.0.0.1:123");
  b.markRefused(b.servers()[0], t0);
  EXPECT_EQ(b.pick(t0 + milliseconds(1))->label(), "127.0.0.2:123");
  b.markRefused(b.servers()[1], t0);
  EXPECT_EQ(b.pick(t0 + milliseconds(1))->label(), "127.0.0.3:123");
  EXPECT_EQ(b.pick(t0 + milliseconds(5000))->label(), "127.0.0.1:123");
}

TEST(Backend, FailsOpenWhenEveryServerIsDown) {
  Backend rr("rr", Balance::RoundRobin, milliseconds(5000), servers(2));
  for (Server& s : rr.servers()) rr.markRefused(s, t0);
  Server* a = rr.pick(t0);
  Server* b = rr.pick(t0);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a, b);
  Backend first("f", Balance::First, milliseconds(5000), servers(2));
  for (Server& s : first.servers()) first.markRefused(s, t0);
  EXPECT_EQ(first.pick(t0)->label(), "127.0.0.1:123");
}

TEST(Backend, EmptyPoolPicksNothing) {
  Backend b("b", Balance::RoundRobin, milliseconds(5000), {});
  EXPECT_EQ(b.pick(t0), nullptr);
}

TEST(Backend, ServersPointBackToTheirBackend) {
  Backend b("b", Balance::RoundRobin, milliseconds(5000), servers(2));
  for (const Server& s : b.servers()) EXPECT_EQ(s.backend, &b);
}

TEST(ResolveServers, KeepsLiteralsAndResolvesNames) {
  BackendConfig cfg;
  cfg.name = "b";
  ServerConfig lit;
  lit.text = "127.0.0.9:5000";
  lit.host = "127.0.0.9";
  lit.port = 5000;
  lit.literal = SockAddr::parse("127.0.0.9:5000");
  ServerConfig name;
  name.text = "localhost";
  name.host = "localhost";
  name.port = 123;
  cfg.servers = {lit, name};
  std::vector<std::string> problems;
  std::vector<Server> got = resolveServers(cfg, problems);
  EXPECT_TRUE(problems.empty());
  ASSERT_GE(got.size(), 2u);
  EXPECT_EQ(got[0].label(), "127.0.0.9:5000");
  for (std::size_t i = 1; i < got.size(); ++i) {
    EXPECT_EQ(got[i].addr().port(), 123);
    EXPECT_EQ(got[i].origin(), "localhost");
  }
}

}  // namespace
}  // namespace udpx

// Resolver: hosts-file parsing, names answered from /etc/hosts (fixed, never re-resolved),
// and a name whose resolver is unreachable keeping what it had (nothing) with an error.
#include "backends/resolver.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <unistd.h>

#include "backends/backend.h"

namespace udpx {
namespace {

TEST(ParseHosts, MapsEveryNameAndAliasToItsAddresses) {
  const auto hosts = parseHosts(
      "# comment\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n192.0.2.7  NTP.Example.org ntp # the clock\n"
      "not-an-ip name\n\n192.0.2.8 ntp\n");
  ASSERT_EQ(hosts.count("localhost"), 1u);
  ASSERT_EQ(hosts.at("localhost").size(), 2u);
  EXPECT_EQ(hosts.at("localhost")[0].ipString(), "127.0.0.1");
  EXPECT_EQ(hosts.at("localhost")[1].ipString(), "::1");
  EXPECT_EQ(hosts.at("ntp.example.org")[0].ipString(), "192.0.2.7");
  ASSERT_EQ(hosts.at("ntp").size(), 2u);
  EXPECT_EQ(hosts.count("name"), 0u);
}

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_.reset(event_base_new());
    // One file per process: ctest runs the tests of this fixture in parallel processes.
    hosts_ = ::testing::TempDir() + "udpx_resolver_hosts." + std::to_string(::getpid());
    std::ofstream(hosts_) << "192.0.2.7 ntp.example.org\n";
  }
  void TearDown() override { std::remove(hosts_.c_str()); }

  BackendConfig backend(const std::string& host) {
    BackendConfig c;
    c.name = "b";
    ServerConfig s;
    s.text = host + ":123";
    s.host = host;
    s.port = 123;
    c.servers.push_back(s);
    c.resolve_min = milliseconds(100);
    return c;
  }

  EventBasePtr base_;
  std::string hosts_;
  std::mt19937_64 rng_{1};
};

TEST_F(ResolverTest, NamesFromTheHostsFileBecomeServersAtOnce) {
  const BackendConfig cfg = backend("NTP.example.org");
  Backend be(cfg, base_.get(), &rng_);
  // A resolver nobody answers: the hosts file must be enough.
  Resolver r(base_.get(), {*SockAddr::parse("127.0.0.1:9")}, hosts_);
  r.watch(be, cfg.servers[0]);
  r.start();
  EXPECT_TRUE(r.settled());
  ASSERT_EQ(be.servers().size(), 1u);
  EXPECT_EQ(be.servers()[0].label(), "192.0.2.7:123");
  EXPECT_EQ(be.servers()[0].origin(), "NTP.example.org:123");
  EXPECT_EQ(be.servers()[0].stateName(), "up");
  EXPECT_TRUE(r.names()[0]->from_hosts);
  EXPECT_EQ(r.source(), "global.resolvers (127.0.0.1:9)");
}

TEST_F(ResolverTest, AFailedResolutionIsReportedAndRetried) {
  const BackendConfig cfg = backend("nowhere.example.org");
  Backend be(cfg, base_.get(), &rng_);
  // Port 9 on loopback: nothing listens, every query is refused at once (ICMP).
  Resolver r(base_.get(), {*SockAddr::parse("127.0.0.1:9")}, hosts_);
  r.watch(be, cfg.servers[0]);
  r.start();
  const TimePoint deadline = Clock::now() + std::chrono::seconds(10);
  while (!r.settled() && Clock::now() < deadline) event_base_loop(base_.get(), EVLOOP_ONCE);
  ASSERT_TRUE(r.settled());
  EXPECT_TRUE(be.servers().empty());
  EXPECT_NE(r.names()[0]->error.find("cannot resolve nowhere.example.org"), std::string::npos) << r.names()[0]->error;
  EXPECT_GT(r.names()[0]->next, Clock::now() - std::chrono::seconds(1));
}

}  // namespace
}  // namespace udpx

// SessionTable's per-client cap (max_sessions_per_client): a host's new source ports evict that
// host's own oldest sessions, never another host's.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "dataplane/session_table.h"

namespace udpx {
namespace {

using std::chrono::milliseconds;

SockAddr at(const std::string& host, int port) { return *SockAddr::parse(host + ":" + std::to_string(port)); }

class SessionHosts : public ::testing::Test {
 protected:
  TimePoint t0 = TimePoint{} + std::chrono::hours(1);
  std::vector<std::pair<std::string, SessionEnd>> ended;
  SessionTable table{100000, [this](Session& s, SessionEnd why) { ended.emplace_back(s.client.toString(), why); }};
};

TEST_F(SessionHosts, AFloodOfNewPortsEvictsOnlyThatHostsOwnSessions) {
  const auto lane = table.addLane(milliseconds(60000), 1000);
  table.setPerClientCap(lane, 10);
  for (int i = 0; i < 5; ++i) ASSERT_NE(table.create(lane, at("192.0.2.1", 1000 + i), t0), nullptr);
  for (int port = 1; port <= 5000; ++port) ASSERT_NE(table.create(lane, at("192.0.2.66", port), t0), nullptr);
  EXPECT_EQ(table.hostSessions(lane, at("192.0.2.66", 1)), 10u);
  EXPECT_EQ(table.hostSessions(lane, at("192.0.2.1", 1)), 5u);
  EXPECT_EQ(table.laneSize(lane), 15u);
  // The flooder's newest ten are the ones left; the other host's five are untouched.
  for (int port = 4991; port <= 5000; ++port) EXPECT_NE(table.find(lane, at("192.0.2.66", port)), nullptr);
  EXPECT_EQ(table.find(lane, at("192.0.2.66", 4990)), nullptr);
  for (int i = 0; i < 5; ++i) EXPECT_NE(table.find(lane, at("192.0.2.1", 1000 + i)), nullptr);
  ASSERT_EQ(ended.size(), 4990u);
  for (const auto& [who, why] : ended) {
    EXPECT_EQ(who.rfind("192.0.2.66:", 0), 0u) << who;
    EXPECT_EQ(why, SessionEnd::EvictedPerClient);
  }
}

TEST_F(SessionHosts, ASessionThatEndsGivesItsPlaceBack) {
  const auto lane = table.addLane(milliseconds(60000), 1000);
  table.setPerClientCap(lane, 2);
  Session* a = table.create(lane, at("[2001:db8::1]", 1), t0);
  table.create(lane, at("[2001:db8::1]", 2), t0);
  table.remove(*a, SessionEnd::Closed);
  EXPECT_EQ(table.hostSessions(lane, at("[2001:db8::1]", 9)), 1u);
  table.create(lane, at("[2001:db8::1]", 3), t0);
  EXPECT_EQ(ended.size(), 1u) << "no eviction: the host had room again";
  table.clear(SessionEnd::Shutdown);
  EXPECT_EQ(table.hostSessions(lane, at("[2001:db8::1]", 9)), 0u);
}

TEST_F(SessionHosts, NoCapCountsNothing) {
  const auto lane = table.addLane(milliseconds(60000), 1000);
  for (int port = 1; port <= 100; ++port) table.create(lane, at("192.0.2.66", port), t0);
  EXPECT_EQ(table.laneSize(lane), 100u);
  EXPECT_EQ(table.hostSessions(lane, at("192.0.2.66", 1)), 0u);
  EXPECT_TRUE(ended.empty());
}

TEST_F(SessionHosts, TheCapIsPerLane) {
  const auto a = table.addLane(milliseconds(60000), 1000), b = table.addLane(milliseconds(60000), 1000);
  table.setPerClientCap(a, 1);
  table.setPerClientCap(b, 1);
  table.create(a, at("192.0.2.5", 1), t0);
  table.create(b, at("192.0.2.5", 2), t0);
  EXPECT_TRUE(ended.empty());
  table.create(a, at("192.0.2.5", 3), t0);
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0].first, "192.0.2.5:1");
}

}  // namespace
}  // namespace udpx

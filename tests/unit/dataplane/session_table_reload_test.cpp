// SessionTable under a reload: a lane's new cap and timeout, a smaller global cap, ending the
// sessions that match, and lanes freed and used again.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dataplane/session_table.h"

namespace udpx {
namespace {

using std::chrono::milliseconds;

SockAddr client(int port) { return *SockAddr::parse("192.168.0.10:" + std::to_string(port)); }

class SessionTableReload : public ::testing::Test {
 protected:
  TimePoint t0 = TimePoint{} + std::chrono::hours(1);
  std::vector<std::pair<std::uint16_t, SessionEnd>> ended;
  SessionTable table{100, [this](Session& s, SessionEnd why) { ended.emplace_back(s.client.port(), why); }};
};

TEST_F(SessionTableReload, ASmallerLaneCapEvictsTheLeastRecentlyUsed) {
  auto lane = table.addLane(milliseconds(1000), 10);
  for (int i = 0; i < 5; ++i) table.create(lane, client(1000 + i), t0 + milliseconds(i));
  table.touch(*table.find(lane, client(1000)), t0 + milliseconds(10));
  table.setLane(lane, milliseconds(1000), 3);
  EXPECT_EQ(table.laneSize(lane), 3u);
  EXPECT_EQ(ended, (std::vector<std::pair<std::uint16_t, SessionEnd>>{{1001, SessionEnd::Evicted},
                                                                      {1002, SessionEnd::Evicted}}));
  EXPECT_NE(table.find(lane, client(1000)), nullptr);
}

TEST_F(SessionTableReload, AShorterTimeoutMovesTheNextDeadline) {
  auto lane = table.addLane(milliseconds(60000), 10);
  table.create(lane, client(1000), t0);
  EXPECT_EQ(table.nextDeadline(), t0 + milliseconds(60000));
  table.setLane(lane, milliseconds(5000), 10);
  EXPECT_EQ(table.nextDeadline(), t0 + milliseconds(5000));
  table.expire(t0 + milliseconds(5000));
  EXPECT_EQ(table.size(), 0u);
}

TEST_F(SessionTableReload, ASmallerGlobalCapEvictsAcrossLanes) {
  auto a = table.addLane(milliseconds(1000), 10);
  auto b = table.addLane(milliseconds(1000), 10);
  table.create(a, client(1), t0);
  table.create(b, client(2), t0 + milliseconds(1));
  table.create(a, client(3), t0 + milliseconds(2));
  table.setGlobalCap(1);
  EXPECT_EQ(table.size(), 1u);
  EXPECT_NE(table.find(a, client(3)), nullptr);
  EXPECT_EQ(table.globalCap(), 1u);
}

TEST_F(SessionTableReload, RemoveIfEndsOnlyMatchingSessionsOfTheLane) {
  auto a = table.addLane(milliseconds(1000), 10);
  auto b = table.addLane(milliseconds(1000), 10);
  for (int i = 0; i < 4; ++i) table.create(a, client(2000 + i), t0);
  table.create(b, client(2001), t0);
  const auto n = table.removeIf(a, [](const Session& s) { return s.client.port() % 2 == 1; }, SessionEnd::Closed);
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(table.laneSize(a), 2u);
  EXPECT_EQ(table.laneSize(b), 1u);
  EXPECT_EQ(table.find(a, client(2001)), nullptr);
  EXPECT_NE(table.find(b, client(2001)), nullptr);
}

TEST_F(SessionTableReload, ReleasedLanesAreUsedAgain) {
  auto a = table.addLane(milliseconds(1000), 10);
  auto b = table.addLane(milliseconds(1000), 10);
  table.create(a, client(1), t0);
  table.releaseLane(a, SessionEnd::Shutdown);
  EXPECT_EQ(table.size(), 0u);
  EXPECT_EQ(table.addLane(milliseconds(500), 5), a);
  EXPECT_EQ(table.addLane(milliseconds(500), 5), b + 1);
}

}  // namespace
}  // namespace udpx

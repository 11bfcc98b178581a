// SessionTable: lookup, LRU eviction under both caps, idle expiry with an injected clock.
#include "dataplane/session_table.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace udpx {
namespace {

using std::chrono::milliseconds;

SockAddr client(int port) { return *SockAddr::parse("192.168.0.10:" + std::to_string(port)); }

struct Ended {
  std::vector<std::pair<std::uint16_t, SessionEnd>> list;
};

class SessionTableTest : public ::testing::Test {
 protected:
  TimePoint t0 = TimePoint{} + std::chrono::hours(1);
  Ended ended;
  SessionTable::EndFn recorder() {
    return [this](Session& s, SessionEnd why) { ended.list.emplace_back(s.client.port(), why); };
  }
};

TEST_F(SessionTableTest, FindsSessionByFrontendAndClient) {
  SessionTable t(100, recorder());
  auto lane = t.addLane(milliseconds(1000), 10);
  Session* s = t.create(lane, client(1000), t0);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(t.find(lane, client(1000)), s);
  EXPECT_EQ(t.find(lane, client(1001)), nullptr);
  EXPECT_EQ(t.size(), 1u);
}

TEST_F(SessionTableTest, SameClientOnTwoFrontendsHasTwoSessions) {
  SessionTable t(100, recorder());
  auto a = t.addLane(milliseconds(1000), 10);
  auto b = t.addLane(milliseconds(1000), 10);
  Session* sa = t.create(a, client(1000), t0);
  Session* sb = t.create(b, client(1000), t0);
  EXPECT_NE(sa, sb);
  EXPECT_EQ(t.find(a, client(1000)), sa);
  EXPECT_EQ(t.find(b, client(1000)), sb);
  EXPECT_EQ(t.laneSize(a), 1u);
  EXPECT_EQ(t.laneSize(b), 1u);
}

TEST_F(SessionTableTest, EvictsLeastRecentlyUsedWhenFrontendIsFull) {
  SessionTable t(100, recorder());
  auto lane = t.addLane(milliseconds(10000), 3);
  t.create(lane, client(1), t0);
  t.create(lane, client(2), t0 + milliseconds(1));
  t.create(lane, client(3), t0 + milliseconds(2));
  // Client 1 talks again: client 2 is now the least recently used.
  t.touch(*t.find(lane, client(1)), t0 + milliseconds(3));
  t.create(lane, client(4), t0 + milliseconds(4));
  ASSERT_EQ(ended.list.size(), 1u);
  EXPECT_EQ(ended.list[0].first, 2);
  EXPECT_EQ(ended.list[0].second, SessionEnd::Evicted);
  EXPECT_EQ(t.find(lane, client(2)), nullptr);
  EXPECT_NE(t.find(lane, client(1)), nullptr);
  EXPECT_EQ(t.laneSize(lane), 3u);
}

TEST_F(SessionTableTest, EvictsGloballyLeastRecentlyUsedAtProcessCap) {
  SessionTable t(2, recorder());
  auto a = t.addLane(milliseconds(10000), 100);
  auto b = t.addLane(milliseconds(10000), 100);
  t.create(a, client(1), t0);
  t.create(b, client(2), t0 + milliseconds(1));
  t.create(b, client(3), t0 + milliseconds(2));  // over the global cap of 2
  ASSERT_EQ(ended.list.size(), 1u);
  EXPECT_EQ(ended.list[0].first, 1);
  EXPECT_EQ(t.laneSize(a), 0u);
  EXPECT_EQ(t.laneSize(b), 2u);
  EXPECT_EQ(t.size(), 2u);
}

TEST_F(SessionTableTest, ExpiresIdleSessionsAtTheMillisecond) {
  SessionTable t(100, recorder());
  auto lane = t.addLane(milliseconds(300), 10);
  t.create(lane, client(1), t0);
  t.create(lane, client(2), t0 + milliseconds(100));
  auto next = t.expire(t0 + milliseconds(299));
  EXPECT_TRUE(ended.list.empty());
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, t0 + milliseconds(300));
  next = t.expire(t0 + milliseconds(300));
  ASSERT_EQ(ended.list.size(), 1u);
  EXPECT_EQ(ended.list[0], std::make_pair(std::uint16_t{1}, SessionEnd::Expired));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, t0 + milliseconds(400));
  next = t.expire(t0 + milliseconds(400));
  EXPECT_EQ(ended.list.size(), 2u);
  EXPECT_FALSE(next.has_value());
  EXPECT_EQ(t.size(), 0u);
}

TEST_F(SessionTableTest, ActivityPostponesExpiry) {
  SessionTable t(100, recorder());
  auto lane = t.addLane(milliseconds(300), 10);
  Session* s = t.create(lane, client(1), t0);
  t.touch(*s, t0 + milliseconds(250));
  t.expire(t0 + milliseconds(400));
  EXPECT_TRUE(ended.list.empty());
  t.expire(t0 + milliseconds(550));
  EXPECT_EQ(ended.list.size(), 1u);
}

TEST_F(SessionTableTest, NextDeadlineIsTheEarliestAcrossFrontends) {
  SessionTable t(100, recorder());
  auto slow = t.addLane(milliseconds(60000), 10);
  auto fast = t.addLane(milliseconds(2000), 10);
  EXPECT_FALSE(t.nextDeadline().has_value());
  t.create(slow, client(1), t0);
  t.create(fast, client(2), t0 + milliseconds(10));
  EXPECT_EQ(*t.nextDeadline(), t0 + milliseconds(2010));
}

TEST_F(SessionTableTest, RemoveEndsSessionOnceAndFreesItsSlot) {
  SessionTable t(100, recorder());
  auto lane = t.addLane(milliseconds(1000), 10);
  Session* s = t.create(lane, client(1), t0);
  t.remove(*s, SessionEnd::Closed);
  ASSERT_EQ(ended.list.size(), 1u);
  EXPECT_EQ(ended.list[0].second, SessionEnd::Closed);
  EXPECT_EQ(t.find(lane, client(1)), nullptr);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_FALSE(t.nextDeadline().has_value());
}

TEST_F(SessionTableTest, HandlesTenThousandSessions) {
  SessionTable t(20000, recorder());
  auto lane = t.addLane(milliseconds(1000), 20000);
  for (int i = 0; i < 10000; ++i) {
    SockAddr a = *SockAddr::parse("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ":" +
                                  std::to_string(1024 + i));
    ASSERT_NE(t.create(lane, a, t0 + milliseconds(i % 100)), nullptr);
  }
  EXPECT_EQ(t.size(), 10000u);
  for (int i = 0; i < 10000; i += 97) {
    SockAddr a = *SockAddr::parse("10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ":" +
                                  std::to_string(1024 + i));
    EXPECT_NE(t.find(lane, a), nullptr) << i;
  }
  t.expire(t0 + milliseconds(1099));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(ended.list.size(), 10000u);
}

TEST_F(SessionTableTest, ClearEndsEverySessionWithTheGivenReason) {
  SessionTable t(100, recorder());
  auto lane = t.addLane(milliseconds(1000), 10);
  t.create(lane, client(1), t0);
  t.create(lane, client(2), t0);
  t.clear(SessionEnd::Shutdown);
  ASSERT_EQ(ended.list.size(), 2u);
  EXPECT_EQ(ended.list[0].second, SessionEnd::Shutdown);
  EXPECT_EQ(t.size(), 0u);
}

TEST(Session, MatchesPendingTokensOnce) {
  Session s;
  s.addPending(11);
  s.addPending(22);
  EXPECT_TRUE(s.takePending(11));
  EXPECT_FALSE(s.takePending(11));
  EXPECT_TRUE(s.takePending(22));
  EXPECT_EQ(s.pending_count, 0);
}

TEST(Session, KeepsOnlyTheNewestPendingTokens) {
  Session s;
  for (Token t = 1; t <= Session::kPending + 2; ++t) s.addPending(t);
  EXPECT_FALSE(s.takePending(1));
  EXPECT_FALSE(s.takePending(2));
  for (Token t = 3; t <= Session::kPending + 2; ++t) EXPECT_TRUE(s.takePending(t)) << t;
}

}  // namespace
}  // namespace udpx

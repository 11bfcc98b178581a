// InflightTable: lookups by (socket, key), deletion keeping every other entry findable,
// expiry per lane, eviction (answered entries first) at a lane's cap and the table's size.
#include "dataplane/inflight_table.h"

#include <gtest/gtest.h>

#include <iterator>
#include <map>
#include <vector>

namespace udpx {
namespace {

using std::chrono::milliseconds;

const TimePoint t0 = TimePoint{} + std::chrono::hours(1);

struct Ended {
  std::vector<std::pair<Token, InflightEnd>> list;
  static void record(void* ctx, InflightTable::Entry& e, InflightEnd why) noexcept {
    static_cast<Ended*>(ctx)->list.emplace_back(e.key, why);
  }
};

TEST(InflightTable, FindsEntriesBySocketAndKey) {
  Ended ended;
  InflightTable t(100, 42, &Ended::record, &ended);
  t.setLane(0, milliseconds(1000), 100);
  const std::uint32_t a = t.insert(0, 1, 7, t0);
  const std::uint32_t b = t.insert(0, 2, 7, t0);
  EXPECT_EQ(t.find(1, 7), a);
  EXPECT_EQ(t.find(2, 7), b);
  EXPECT_EQ(t.find(3, 7), InflightTable::kNone);
  EXPECT_EQ(t.find(1, 8), InflightTable::kNone);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.pending(), 2u);
}

TEST(InflightTable, GrowKeepsEntriesInFlightAndHoldsMoreWithoutEviction) {
  // A reload raising max_sessions grows the table: what was pending stays findable and
  // pending, and the new room takes requests without evicting the old ones.
  Ended ended;
  InflightTable t(4, 42, &Ended::record, &ended);
  t.setLane(0, milliseconds(1000), 100);
  std::vector<std::uint32_t> idx;
  for (Token k = 1; k <= 4; ++k) idx.push_back(t.insert(0, 1, k, t0));
  t.answer(idx[1]);
  t.grow(16);
  EXPECT_EQ(t.capacity(), 16u);
  for (Token k = 5; k <= 16; ++k) t.insert(0, 1, k, t0);
  EXPECT_TRUE(ended.list.empty());
  EXPECT_EQ(t.size(), 16u);
  for (Token k = 1; k <= 4; ++k) EXPECT_EQ(t.find(1, k), idx[k - 1]) << k;
  EXPECT_EQ(t.at(idx[1]).state, InflightTable::State::Answered);
  EXPECT_EQ(t.at(idx[0]).state, InflightTable::State::Pending);
  for (Token k = 5; k <= 16; ++k) EXPECT_NE(t.find(1, k), InflightTable::kNone) << k;
  t.grow(8);  // never shrinks
  EXPECT_EQ(t.capacity(), 16u);
  t.insert(0, 1, 17, t0);  // full again: now the oldest answered one goes
  ASSERT_TRUE(ended.list.empty());
  EXPECT_EQ(t.find(1, 2), InflightTable::kNone);
  EXPECT_EQ(t.size(), 16u);
}

TEST(InflightTable, EveryOtherEntryStaysFindableWhileEntriesComeAndGo) {
  // A small index with many keys makes long probe runs, which deletion must keep intact.
  Ended ended;
  InflightTable t(512, 1, &Ended::record, &ended);
  t.setLane(0, milliseconds(1000), 512);
  std::map<Token, std::uint32_t> live;
  std::uint64_t x = 12345;
  for (int round = 0; round < 20000; ++round) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const Token key = (x >> 33) % 2000;
    if (auto it = live.find(key); it != live.end()) {
      ASSERT_EQ(t.find(0, key), it->second);
      t.erase(it->second);
      live.erase(it);
      ASSERT_EQ(t.find(0, key), InflightTable::kNone);
    } else if (live.size() < 500) {
      ASSERT_EQ(t.find(0, key), InflightTable::kNone);
      live[key] = t.insert(0, 0, key, t0);
    }
  }
  for (const auto& [key, i] : live) EXPECT_EQ(t.find(0, key), i);
  EXPECT_EQ(t.size(), live.size());
  EXPECT_TRUE(ended.list.empty());
}

TEST(InflightTable, PendingEntriesExpireAfterTheirLanesTimeout) {
  Ended ended;
  InflightTable t(100, 3, &Ended::record, &ended);
  t.setLane(0, milliseconds(2000), 100);
  t.setLane(1, milliseconds(500), 100);
  t.insert(0, 0, 1, t0);
  t.insert(1, 0, 2, t0);
  const std::uint32_t answered = t.insert(1, 0, 3, t0);
  t.answer(answered);
  EXPECT_EQ(t.lanePending(1), 1u);
  auto next = t.expire(t0 + milliseconds(499));
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, t0 + milliseconds(500));
  next = t.expire(t0 + milliseconds(500));
  ASSERT_EQ(ended.list.size(), 1u);
  EXPECT_EQ(ended.list[0], std::make_pair(Token{2}, InflightEnd::Expired));
  EXPECT_EQ(t.find(0, 3), InflightTable::kNone);  // answered: freed quietly
  ASSERT_TRUE(next);
  EXPECT_EQ(*next, t0 + milliseconds(2000));
  EXPECT_FALSE(t.expire(t0 + milliseconds(2000)));
  EXPECT_EQ(ended.list.size(), 2u);
  EXPECT_EQ(t.size(), 0u);
}

TEST(InflightTable, AnsweredEntriesStayFindableUntilTheTimeout) {
  Ended ended;
  InflightTable t(10, 4, &Ended::record, &ended);
  t.setLane(0, milliseconds(1000), 10);
  const std::uint32_t i = t.insert(0, 0, 9, t0);
  t.answer(i);
  EXPECT_EQ(t.find(0, 9), i);
  EXPECT_EQ(t.at(i).state, InflightTable::State::Answered);
  EXPECT_EQ(t.pending(), 0u);
  EXPECT_EQ(t.size(), 1u);
}

// Answered entries are only there to recognise an extra reply: a lane keeps its last
// kKeptAnswered, so the reply path's working set stays small at any rate and timeout.
TEST(InflightTable, ALaneKeepsOnlyItsLastAnsweredEntries) {
  constexpr std::uint32_t kKept = InflightTable::kKeptAnswered;
  Ended ended;
  InflightTable t(4 * kKept, 7, &Ended::record, &ended);
  t.setLane(0, milliseconds(5000), 4 * kKept);
  t.setLane(1, milliseconds(5000), 4 * kKept);
  for (std::uint32_t k = 1; k <= kKept + 10; ++k) t.answer(t.insert(0, 0, k, t0));
  t.answer(t.insert(1, 0, 100000, t0));  // another lane keeps its own
  EXPECT_EQ(t.size(), kKept + 1);
  for (std::uint32_t k = 1; k <= 10; ++k) EXPECT_EQ(t.find(0, k), InflightTable::kNone) << k;
  for (std::uint32_t k = 11; k <= kKept + 10; ++k) EXPECT_NE(t.find(0, k), InflightTable::kNone) << k;
  EXPECT_NE(t.find(0, 100000), InflightTable::kNone);
  EXPECT_TRUE(ended.list.empty());  // answered entries go quietly
  // Pending ones are never dropped for it.
  for (std::uint32_t k = 0; k < kKept + 10; ++k) t.insert(0, 1, k, t0);
  EXPECT_EQ(t.pending(), kKept + 10);
}

TEST(InflightTable, AFullLaneForgetsItsOldestAnsweredFirst) {
  Ended ended;
  InflightTable t(100, 5, &Ended::record, &ended);
  t.setLane(0, milliseconds(1000), 3);
  t.insert(0, 0, 1, t0);
  t.answer(t.insert(0, 0, 2, t0));
  t.insert(0, 0, 3, t0);
  t.insert(0, 0, 4, t0);  // the answered one (2) goes, quietly
  EXPECT_TRUE(ended.list.empty());
  EXPECT_EQ(t.find(0, 2), InflightTable::kNone);
  t.insert(0, 0, 5, t0);  // then the oldest pending (1), told as evicted
  ASSERT_EQ(ended.list.size(), 1u);
  EXPECT_EQ(ended.list[0], std::make_pair(Token{1}, InflightEnd::Evicted));
  EXPECT_EQ(t.size(), 3u);
}

TEST(InflightTable, AFullTableEvictsAcrossLanesAndReusesSlots) {
  Ended ended;
  InflightTable t(4, 6, &Ended::record, &ended);
  t.setLane(0, milliseconds(1000), 100);
  t.setLane(1, milliseconds(1000), 100);
  for (Token k = 1; k <= 4; ++k) t.insert(0, 0, k, t0 + milliseconds(k));
  t.insert(1, 0, 100, t0 + milliseconds(10));
  ASSERT_EQ(ended.list.size(), 1u);
  EXPECT_EQ(ended.list[0].first, Token{1});
  EXPECT_EQ(t.size(), 4u);
  EXPECT_NE(t.find(0, 100), InflightTable::kNone);
  for (Token k = 2; k <= 4; ++k) EXPECT_NE(t.find(0, k), InflightTable::kNone);
}

TEST(InflightTable, ClearingALaneEndsOnlyItsEntries) {
  Ended ended;
  InflightTable t(10, 7, &Ended::record, &ended);
  t.setLane(0, milliseconds(1000), 10);
  t.setLane(1, milliseconds(1000), 10);
  t.insert(0, 0, 1, t0);
  t.insert(1, 0, 2, t0);
  t.clearLane(1, InflightEnd::Shutdown);
  ASSERT_EQ(ended.list.size(), 1u);
  EXPECT_EQ(ended.list[0], std::make_pair(Token{2}, InflightEnd::Shutdown));
  EXPECT_NE(t.find(0, 1), InflightTable::kNone);
}

TEST(InflightTable, SecondKeysFindTheirEntryUntilItEnds) {
  Ended ended;
  InflightTable t(100, 42, &Ended::record, &ended);
  t.setLane(0, milliseconds(1000), 100);
  const std::uint32_t a = t.insert(0, 1, 7, t0);
  const std::uint32_t b = t.insert(0, 1, 8, t0);
  ASSERT_TRUE(t.indexSecond(a, 70));
  EXPECT_EQ(t.find(1, 70), a);
  EXPECT_EQ(t.at(a).original_alt, 70u);
  EXPECT_EQ(t.find(1, 7), a);
  EXPECT_EQ(t.find(2, 70), InflightTable::kNone);  // another socket
  // A key or second key already known on the socket is refused, for any entry.
  EXPECT_FALSE(t.indexSecond(b, 70));
  EXPECT_FALSE(t.indexSecond(b, 7));
  EXPECT_FALSE(t.indexSecond(a, 71));  // one second key each
  EXPECT_EQ(t.seconds(), 1u);
  t.grow(200);
  EXPECT_EQ(t.find(1, 70), a);
  t.erase(a);
  EXPECT_EQ(t.find(1, 70), InflightTable::kNone);
  EXPECT_EQ(t.find(1, 7), InflightTable::kNone);
  EXPECT_EQ(t.find(1, 8), b);
  EXPECT_EQ(t.seconds(), 0u);
}

TEST(InflightTable, ManySecondKeysAndDeletionsKeepEveryKeyFindable) {
  // Keys and second keys share one index: backward-shift deletion must move either kind.
  Ended ended;
  InflightTable t(64, 3, &Ended::record, &ended);
  t.setLane(0, milliseconds(1000), 64);
  std::map<Token, std::uint32_t> live;  // key or second key -> entry
  std::vector<std::uint32_t> entries;
  for (Token k = 0; k < 32; ++k) {
    const std::uint32_t i = t.insert(0, 0, 1000 + k, t0);
    entries.push_back(i);
    live[1000 + k] = i;
    if (t.indexSecond(i, 5000 + k)) live[5000 + k] = i;
  }
  EXPECT_EQ(t.seconds(), 32u);  // a quarter of the index (128 slots)
  EXPECT_FALSE(t.indexSecond(t.insert(0, 0, 2000, t0), 6000)) << "second keys at their bound";
  live[2000] = t.find(0, 2000);
  for (std::size_t n = 0; n < entries.size(); n += 3) {
    const std::uint32_t i = entries[n];
    for (auto it = live.begin(); it != live.end();) it = it->second == i ? live.erase(it) : std::next(it);
    t.erase(i);
  }
  for (const auto& [key, i] : live) EXPECT_EQ(t.find(0, key), i) << key;
  EXPECT_EQ(t.find(0, 5000), InflightTable::kNone);
  EXPECT_EQ(t.find(0, 1000), InflightTable::kNone);
}

TEST(InflightTable, AnEntryCostsAtMost128Bytes) {
  EXPECT_LE(InflightTable::kBytesPerEntry, 128u);
}

}  // namespace
}  // namespace udpx

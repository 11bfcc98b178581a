#include "dataplane/client_table.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace udpx {
namespace {

SockAddr client(int n) {
  return *SockAddr::parse("10." + std::to_string(n / 65536 % 256) + "." + std::to_string(n / 256 % 256) + "." +
                          std::to_string(n % 256) + ":" + std::to_string(1000 + n % 7));
}

std::vector<std::string> recent(const ClientTable& t) {
  std::vector<std::string> out;
  t.forEachRecent([&](const ClientRecord& r) {
    out.push_back(r.address().toString());
    return true;
  });
  return out;
}

TEST(ClientTable, FindsWhatItTouchedMostRecentFirst) {
  ClientTable t;
  const TimePoint now{};
  t.touch(client(1), now)->requests++;
  t.touch(client(2), now)->requests++;
  t.touch(client(1), now)->requests++;
  ASSERT_NE(t.find(client(1)), nullptr);
  EXPECT_EQ(t.find(client(1))->requests, 2u);
  EXPECT_EQ(t.find(client(3)), nullptr);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(recent(t), (std::vector<std::string>{client(1).toString(), client(2).toString()}));
  t.drop(client(2), Drop::Acl);
  EXPECT_EQ(t.find(client(2))->dropped[static_cast<std::size_t>(Drop::Acl)], 1u);
  const SockAddr v6 = *SockAddr::parse("[fd00::1]:123");
  t.touch(v6, now);
  EXPECT_EQ(t.find(v6)->address(), v6);
}

TEST(ClientTable, PushesOutTheLeastRecentWhenFull) {
  ClientTable t;
  const TimePoint now{};
  const int n = ClientTable::kCapacity;
  for (int i = 0; i < n; ++i) t.touch(client(i), now)->requests = static_cast<std::uint64_t>(i) + 1;
  t.touch(client(0), now);  // 0 is now the most recent, 1 the least
  for (int i = n; i < n + 10; ++i) t.touch(client(i), now);
  EXPECT_EQ(t.size(), static_cast<std::size_t>(n));
  EXPECT_NE(t.find(client(0)), nullptr);
  for (int i = 1; i <= 10; ++i) EXPECT_EQ(t.find(client(i)), nullptr) << i;
  EXPECT_EQ(t.find(client(11))->requests, 12u);
  EXPECT_EQ(t.find(client(n + 9))->requests, 0u);
}

TEST(ClientTable, StaysConsistentUnderChurn) {
  ClientTable t;
  const TimePoint now{};
  // Many more clients than entries, revisiting a window of recent ones: every client of the
  // last kCapacity distinct touches must be found, and the ring must list each once.
  std::vector<int> order;
  for (int round = 0; round < 20000; ++round) {
    const int c = (round * 7919) % 5000;
    t.touch(client(c), now);
    order.push_back(c);
  }
  std::set<int> expect;
  for (auto it = order.rbegin(); it != order.rend() && expect.size() < ClientTable::kCapacity; ++it) expect.insert(*it);
  for (int c : expect) EXPECT_NE(t.find(client(c)), nullptr) << c;
  const std::vector<std::string> listed = recent(t);
  EXPECT_EQ(listed.size(), static_cast<std::size_t>(ClientTable::kCapacity));
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()).size(), listed.size());
}

}  // namespace
}  // namespace udpx

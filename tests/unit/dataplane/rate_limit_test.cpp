// RateLimiter and BucketTable: token buckets per address and prefix on a manual clock.
#include "dataplane/rate_limit.h"

#include <gtest/gtest.h>

#include <string>

#include "net/address.h"

namespace udpx {
namespace {

using std::chrono::milliseconds;

const TimePoint kStart = TimePoint{} + std::chrono::hours(1);

SockAddr addr(const std::string& text) { return *SockAddr::parse(text); }

RateLimitConfig perSecond(std::uint64_t rate, std::uint64_t burst, std::uint64_t prefix_rate = 0,
                          std::uint64_t prefix_burst = 0) {
  RateLimitConfig c;
  c.per_minute = rate * 60;
  c.burst = burst;
  c.prefix_per_minute = prefix_rate * 60;
  c.prefix_burst = prefix_burst;
  return c;
}

// How many of `n` datagrams from `a` at `t` pass.
int passes(RateLimiter& rl, const SockAddr& a, int n, TimePoint t) {
  int ok = 0;
  for (int i = 0; i < n; ++i) ok += rl.admit(a.get(), t) == RateLimiter::Verdict::Pass;
  return ok;
}

TEST(RateLimiter, OffLetsEverythingPass) {
  RateLimiter rl;
  rl.configure(RateLimitConfig{});
  EXPECT_FALSE(rl.enabled());
  EXPECT_EQ(passes(rl, addr("192.0.2.1:5"), 10000, kStart), 10000);
}

TEST(RateLimiter, BurstPassesThenTheRateRefills) {
  RateLimiter rl;
  rl.configure(perSecond(10, 5));
  const SockAddr a = addr("192.0.2.1:1000");
  EXPECT_EQ(passes(rl, a, 20, kStart), 5);
  // 10 a second: one token every 100 ms, none before.
  EXPECT_EQ(passes(rl, a, 5, kStart + milliseconds(99)), 0);
  EXPECT_EQ(passes(rl, a, 5, kStart + milliseconds(100)), 1);
  EXPECT_EQ(passes(rl, a, 5, kStart + milliseconds(350)), 2);
  // Idle for long: full again, never more than the burst.
  EXPECT_EQ(passes(rl, a, 100, kStart + std::chrono::hours(5)), 5);
}

TEST(RateLimiter, PerMinuteRatesAreExact) {
  RateLimiter rl;
  RateLimitConfig c;
  c.per_minute = 7;  // one every 60/7 s = 8571.4 ms
  c.burst = 1;
  rl.configure(c);
  const SockAddr a = addr("192.0.2.1:1");
  EXPECT_EQ(passes(rl, a, 3, kStart), 1);
  EXPECT_EQ(passes(rl, a, 3, kStart + milliseconds(8571)), 0);
  EXPECT_EQ(passes(rl, a, 3, kStart + milliseconds(8572)), 1);
}

TEST(RateLimiter, NewSourcePortsShareTheAddressBucket) {
  RateLimiter rl;
  rl.configure(perSecond(1, 3));
  int ok = 0;
  for (int port = 1; port <= 5000; ++port) {
    ok += rl.admit(addr("192.0.2.9:" + std::to_string(port)).get(), kStart) == RateLimiter::Verdict::Pass;
  }
  EXPECT_EQ(ok, 3);
  // Another address is not affected.
  EXPECT_EQ(passes(rl, addr("192.0.2.10:1"), 3, kStart), 3);
}

TEST(RateLimiter, PrefixBucketHoldsTheWholeSlash24) {
  RateLimiter rl;
  rl.configure(perSecond(100, 100, 1, 10));
  int ok = 0;
  for (int host = 1; host <= 50; ++host) ok += passes(rl, addr("198.51.100." + std::to_string(host) + ":7"), 1, kStart);
  EXPECT_EQ(ok, 10);
  // The next /24 has its own bucket.
  EXPECT_EQ(passes(rl, addr("198.51.101.1:7"), 1, kStart), 1);
}

TEST(RateLimiter, AFloodLimitedByItsAddressDoesNotDrainItsPrefix) {
  RateLimiter rl;
  rl.configure(perSecond(10, 10, 50, 50));
  const SockAddr flood = addr("127.0.0.2:1"), neighbour = addr("127.0.0.3:1");
  EXPECT_EQ(passes(rl, flood, 100000, kStart), 10);
  // 40 of the prefix's 50 are left for the rest of 127.0.0.0/24.
  EXPECT_EQ(passes(rl, neighbour, 10, kStart), 10);
}

TEST(RateLimiter, PrefixLengthIsConfigurable) {
  RateLimiter rl;
  RateLimitConfig c = perSecond(0, 0, 1, 1);
  c.prefix_v4 = 32;
  c.prefix_v6 = 64;
  rl.configure(c);
  EXPECT_EQ(passes(rl, addr("127.0.0.2:1"), 5, kStart), 1);
  EXPECT_EQ(passes(rl, addr("127.0.0.3:1"), 5, kStart), 1);
  EXPECT_EQ(passes(rl, addr("[2001:db8:0:1::1]:1"), 5, kStart), 1);
  EXPECT_EQ(passes(rl, addr("[2001:db8:0:1::2]:1"), 5, kStart), 0);  // the same /64
  EXPECT_EQ(passes(rl, addr("[2001:db8:0:2::1]:1"), 5, kStart), 1);
}

TEST(RateLimiter, Ipv6DefaultsToSlash56AndMappedV4IsV4) {
  RateLimiter rl;
  rl.configure(perSecond(0, 0, 1, 1));
  EXPECT_EQ(passes(rl, addr("[2001:db8:0:ff::1]:1"), 1, kStart), 1);
  EXPECT_EQ(passes(rl, addr("[2001:db8:0:1::1]:1"), 1, kStart), 0);  // same /56
  EXPECT_EQ(passes(rl, addr("[2001:db8:0:100::1]:1"), 1, kStart), 1);
  EXPECT_EQ(passes(rl, addr("[::ffff:192.0.2.1]:1"), 1, kStart), 1);
  EXPECT_EQ(passes(rl, addr("192.0.2.200:1"), 1, kStart), 0);  // the same IPv4 /24
}

TEST(RateLimiter, TopLimitedNamesTheFloodFirst) {
  RateLimiter rl;
  rl.configure(perSecond(1, 1, 1000, 1000));
  passes(rl, addr("192.0.2.1:1"), 100, kStart);
  passes(rl, addr("192.0.2.2:1"), 10, kStart);
  passes(rl, addr("192.0.2.3:1"), 1, kStart);
  const auto top = rl.topLimited(5, false);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].source, "192.0.2.1");
  EXPECT_EQ(top[0].limited, 99u);
  EXPECT_EQ(top[1].source, "192.0.2.2");
  EXPECT_EQ(rl.topLimited(1, false).size(), 1u);
  EXPECT_TRUE(rl.topLimited(5, true).empty());
}

TEST(RateLimiter, TopLimitedPrefixesAreWrittenAsPrefixes) {
  RateLimiter rl;
  rl.configure(perSecond(0, 0, 1, 1));
  passes(rl, addr("192.0.2.77:1"), 3, kStart);
  const auto top = rl.topLimited(5, true);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].source, "192.0.2.0/24");
  EXPECT_EQ(top[0].limited, 2u);
}

TEST(RateLimiter, ReconfigureKeepsTheBucketsAndClampsToASmallerBurst) {
  RateLimiter rl;
  rl.configure(perSecond(10, 100));
  const SockAddr a = addr("192.0.2.1:1"), b = addr("192.0.2.2:1");
  EXPECT_EQ(passes(rl, a, 90, kStart), 90);  // 10 left
  // A reload with another rate: a's bucket keeps its level (10), b's (full) is cut to the new burst.
  rl.configure(perSecond(20, 50));
  EXPECT_EQ(passes(rl, b, 100, kStart), 50);
  EXPECT_EQ(passes(rl, a, 100, kStart), 10);
  EXPECT_EQ(rl.topLimited(5, false).at(0).source, "192.0.2.1");
  // And refills at the new rate: 20 a second.
  EXPECT_EQ(passes(rl, a, 100, kStart + milliseconds(500)), 10);
}

TEST(RateLimiter, KissesHaveTheirOwnLimit) {
  RateLimiter rl;
  RateLimitConfig c = perSecond(1, 1);
  rl.configure(c);
  EXPECT_FALSE(rl.allowKiss(kStart));  // kod off
  c.kod = true;
  rl.configure(c);
  int sent = 0;
  for (int i = 0; i < 1000; ++i) sent += rl.allowKiss(kStart);
  EXPECT_EQ(sent, 20);
  EXPECT_FALSE(rl.allowKiss(kStart + milliseconds(99)));
  EXPECT_TRUE(rl.allowKiss(kStart + milliseconds(100)));  // 10 a second
}

TEST(BucketTable, FullTableRecyclesTheLeastRecentlySeen) {
  BucketTable t(4);
  Bucket k;
  k.family = 4;
  k.prefix = 32;
  bool fresh = false;
  for (std::uint8_t i = 1; i <= 4; ++i) {
    k.key[3] = i;
    t.touch(k, fresh).limited = i;
    EXPECT_TRUE(fresh);
  }
  k.key[3] = 1;
  t.touch(k, fresh);  // 1 is now the most recent; 2 the least
  EXPECT_FALSE(fresh);
  k.key[3] = 5;
  t.touch(k, fresh);
  EXPECT_TRUE(fresh);
  EXPECT_EQ(t.size(), 4u);
  k.key[3] = 2;
  EXPECT_EQ(t.find(k), nullptr);
  for (int i : {1, 3, 4, 5}) {
    k.key[3] = static_cast<std::uint8_t>(i);
    ASSERT_NE(t.find(k), nullptr) << i;
  }
  k.key[3] = 3;
  EXPECT_EQ(t.find(k)->limited, 3u);
}

TEST(BucketTable, ChurnThroughManyKeysStaysConsistent) {
  BucketTable t(64);
  Bucket k;
  k.family = 6;
  k.prefix = 128;
  bool fresh = false;
  for (std::uint32_t i = 0; i < 100000; ++i) {
    k.key[12] = static_cast<std::uint8_t>(i >> 24);
    k.key[13] = static_cast<std::uint8_t>(i >> 16);
    k.key[14] = static_cast<std::uint8_t>(i >> 8);
    k.key[15] = static_cast<std::uint8_t>(i);
    Bucket& b = t.touch(k, fresh);
    ASSERT_TRUE(fresh);
    b.limited = i;
  }
  // The last 64 keys are the ones kept.
  for (std::uint32_t i = 100000 - 64; i < 100000; ++i) {
    k.key[12] = static_cast<std::uint8_t>(i >> 24);
    k.key[13] = static_cast<std::uint8_t>(i >> 16);
    k.key[14] = static_cast<std::uint8_t>(i >> 8);
    k.key[15] = static_cast<std::uint8_t>(i);
    const Bucket* b = t.find(k);
    ASSERT_NE(b, nullptr) << i;
    EXPECT_EQ(b->limited, i);
  }
  EXPECT_EQ(t.size(), 64u);
}

}  // namespace
}  // namespace udpx

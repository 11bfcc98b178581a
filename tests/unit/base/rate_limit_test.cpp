// RateLimit: one line per interval, with the count of the lines held back.
#include <gtest/gtest.h>

#include <string>

#include "base/log.h"

namespace udpx {
namespace {

using std::chrono::milliseconds;

TEST(RateLimit, LetsOneLinePerIntervalAndCountsTheRest) {
  RateLimit limit(milliseconds(10000));
  const TimePoint t0 = TimePoint{} + std::chrono::hours(1);
  ASSERT_TRUE(limit.allow(t0));
  EXPECT_STREQ(limit.suffix(), "");
  for (int i = 1; i <= 37; ++i) EXPECT_FALSE(limit.allow(t0 + milliseconds(i)));
  EXPECT_FALSE(limit.allow(t0 + milliseconds(9999)));
  ASSERT_TRUE(limit.allow(t0 + milliseconds(10000)));
  EXPECT_STREQ(limit.suffix(), " (38 similar messages suppressed)");
  EXPECT_FALSE(limit.allow(t0 + milliseconds(10001)));
  ASSERT_TRUE(limit.allow(t0 + milliseconds(20000)));
  EXPECT_STREQ(limit.suffix(), " (1 similar message suppressed)");
  ASSERT_TRUE(limit.allow(t0 + milliseconds(30000)));
  EXPECT_STREQ(limit.suffix(), "");
}

}  // namespace
}  // namespace udpx

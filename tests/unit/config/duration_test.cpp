// Tests for parseDuration / formatDuration (src/config/duration.cpp).
#include "config/duration.h"

#include <gtest/gtest.h>

#include <chrono>

namespace udpx {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(Duration, ParsesEachUnit) {
  EXPECT_EQ(parseDuration("250ms"), milliseconds{250});
  EXPECT_EQ(parseDuration("2s"), seconds{2});
  EXPECT_EQ(parseDuration("5m"), minutes{5});
  EXPECT_EQ(parseDuration("1h"), hours{1});
  EXPECT_EQ(parseDuration("0s"), milliseconds{0});
  EXPECT_EQ(parseDuration("007s"), seconds{7});
}

TEST(Duration, ParsesCombinedUnitsLargestFirst) {
  EXPECT_EQ(parseDuration("1m30s"), seconds{90});
  EXPECT_EQ(parseDuration("1h2m3s4ms"), hours{1} + minutes{2} + seconds{3} + milliseconds{4});
  EXPECT_EQ(parseDuration("2s500ms"), milliseconds{2500});
}

TEST(Duration, RejectsBareNumberBecauseUnitsAreRequired) {
  EXPECT_EQ(parseDuration("2"), std::nullopt);
  EXPECT_EQ(parseDuration("1m30"), std::nullopt);
}

TEST(Duration, RejectsEmptyNegativeAndMalformed) {
  EXPECT_EQ(parseDuration(""), std::nullopt);
  EXPECT_EQ(parseDuration("-1s"), std::nullopt);
  EXPECT_EQ(parseDuration("+1s"), std::nullopt);
  EXPECT_EQ(parseDuration("s"), std::nullopt);
  EXPECT_EQ(parseDuration("1.5s"), std::nullopt);
  EXPECT_EQ(parseDuration("2 s"), std::nullopt);
  EXPECT_EQ(parseDuration(" 2s"), std::nullopt);
  EXPECT_EQ(parseDuration("2s "), std::nullopt);
}

TEST(Duration, RejectsUnknownUnits) {
  EXPECT_EQ(parseDuration("2d"), std::nullopt);
  EXPECT_EQ(parseDuration("2us"), std::nullopt);
  EXPECT_EQ(parseDuration("2sec"), std::nullopt);
  EXPECT_EQ(parseDuration("2S"), std::nullopt);
}

TEST(Duration, RejectsRepeatedOrOutOfOrderUnits) {
  EXPECT_EQ(parseDuration("30s1m"), std::nullopt);
  EXPECT_EQ(parseDuration("1s1s"), std::nullopt);
  EXPECT_EQ(parseDuration("1ms1s"), std::nullopt);
}

TEST(Duration, RejectsOverflow) {
  EXPECT_EQ(parseDuration("9223372036854775807ms"), milliseconds{INT64_MAX});
  EXPECT_EQ(parseDuration("9223372036854775808ms"), std::nullopt);
  EXPECT_EQ(parseDuration("9223372036854775s"), seconds{9223372036854775});
  EXPECT_EQ(parseDuration("9223372036854776s"), std::nullopt);
  EXPECT_EQ(parseDuration("99999999999999999999h"), std::nullopt);
  // Each part fits; their sum does not.
  EXPECT_EQ(parseDuration("2562047788015h12m55s807ms"), milliseconds{INT64_MAX});
  EXPECT_EQ(parseDuration("2562047788015h12m55s808ms"), std::nullopt);
}

TEST(Duration, FormatsWithLargestExactUnit) {
  EXPECT_EQ(formatDuration(milliseconds{2000}), "2s");
  EXPECT_EQ(formatDuration(milliseconds{1500}), "1500ms");
  EXPECT_EQ(formatDuration(seconds{90}), "90s");
  EXPECT_EQ(formatDuration(minutes{5}), "5m");
  EXPECT_EQ(formatDuration(minutes{90}), "90m");
  EXPECT_EQ(formatDuration(hours{2}), "2h");
  EXPECT_EQ(formatDuration(milliseconds{1}), "1ms");
  EXPECT_EQ(formatDuration(milliseconds{0}), "0s");
  EXPECT_EQ(formatDuration(milliseconds{-2000}), "-2s");
  EXPECT_EQ(formatDuration(milliseconds{INT64_MIN}), "-9223372036854775808ms");
}

TEST(Duration, FormatRoundTripsThroughParse) {
  for (const long long ms : {1LL, 999LL, 1000LL, 61000LL, 3600000LL, 5400000LL, 86400000LL}) {
    const std::string text = formatDuration(milliseconds{ms});
    EXPECT_EQ(parseDuration(text), milliseconds{ms}) << text;
  }
}

}  // namespace
}  // namespace udpx

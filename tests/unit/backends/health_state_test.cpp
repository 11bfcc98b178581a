// HealthState: rise/fall thresholds, definitive signals, and when the state last changed,
// driven by an injected clock.
#include "backends/health_state.h"

#include <gtest/gtest.h>

namespace udpx {
namespace {

using Change = HealthState::Change;
using std::chrono::milliseconds;

const TimePoint t0 = TimePoint{} + std::chrono::hours(1);
TimePoint at(int ms) { return t0 + milliseconds(ms); }

TEST(HealthState, GoesDownAfterFallConsecutiveFailures) {
  HealthState h(2, 3, true, t0);
  EXPECT_EQ(h.failure(at(100)), Change::None);
  EXPECT_EQ(h.failure(at(200)), Change::None);
  EXPECT_TRUE(h.up());
  EXPECT_EQ(h.failure(at(300)), Change::WentDown);
  EXPECT_FALSE(h.up());
  EXPECT_EQ(h.since(), at(300));
  EXPECT_EQ(h.failure(at(400)), Change::None);
  EXPECT_EQ(h.failures(), 4u);
  EXPECT_EQ(h.since(), at(300));
}

TEST(HealthState, ASuccessResetsTheFailureCount) {
  HealthState h(2, 3, true, t0);
  h.failure(at(1));
  h.failure(at(2));
  EXPECT_EQ(h.success(at(3)), Change::None);
  EXPECT_EQ(h.failures(), 0u);
  h.failure(at(4));
  EXPECT_EQ(h.failure(at(5)), Change::None);
  EXPECT_TRUE(h.up());
}

TEST(HealthState, ComesBackAfterRiseConsecutiveSuccesses) {
  HealthState h(3, 1, false, t0);
  EXPECT_EQ(h.success(at(10)), Change::None);
  EXPECT_EQ(h.success(at(20)), Change::None);
  EXPECT_EQ(h.successes(), 2u);
  EXPECT_EQ(h.success(at(30)), Change::WentUp);
  EXPECT_TRUE(h.up());
  EXPECT_EQ(h.since(), at(30));
}

TEST(HealthState, AFailureWhileRisingStartsTheCountAgain) {
  HealthState h(2, 1, false, t0);
  h.success(at(1));
  EXPECT_EQ(h.failure(at(2)), Change::None);
  EXPECT_EQ(h.success(at(3)), Change::None);
  EXPECT_EQ(h.success(at(4)), Change::WentUp);
}

TEST(HealthState, DefinitiveSignalsIgnoreThresholds) {
  HealthState h(5, 5, true, t0);
  EXPECT_EQ(h.forceDown(at(1)), Change::WentDown);
  EXPECT_EQ(h.forceDown(at(2)), Change::None);
  EXPECT_EQ(h.since(), at(1));
  EXPECT_EQ(h.forceUp(at(3)), Change::WentUp);
  EXPECT_EQ(h.forceUp(at(4)), Change::None);
  EXPECT_EQ(h.failures(), 0u);
}

TEST(HealthState, RiseAndFallOfOneActLikeASingleProbe) {
  HealthState h(1, 1, true, t0);
  EXPECT_EQ(h.failure(at(1)), Change::WentDown);
  EXPECT_EQ(h.success(at(2)), Change::WentUp);
}

}  // namespace
}  // namespace udpx

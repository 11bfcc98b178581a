// The snapshot's rate-limit part: the most rate-limited sources of a frontend, the warning that
// names them with its hint, and their way through the status JSON.
#include <gtest/gtest.h>

#include "status/snapshot.h"
#include "status/json.h"
#include "status/snapshot_json.h"
#include "status_objects.h"

namespace udpx {
namespace {

class SnapshotLimits : public StatusObjects {
 protected:
  void limit(std::uint64_t per_second, std::uint64_t burst) {
    FrontendConfig fc = frontends_[0]->config();
    fc.rate.per_minute = per_second * 60;
    fc.rate.burst = burst;
    fc.rate.prefix_per_minute = 1000 * 60;
    fc.rate.prefix_burst = 1000;
    frontends_[0]->reconfigure(fc, backends_[0].get());
  }
  // `n` requests from `address` at t0_, counted as the data path counts them.
  void flood(const char* address, int n) {
    Frontend& fe = *frontends_[0];
    for (int i = 0; i < n; ++i) {
      if (fe.limiter.admit(SockAddr::parse(address)->get(), t0_) == RateLimiter::Verdict::Limited) {
        fe.stats.drop(Drop::RateLimited);
      }
    }
  }
  static const Finding* limitFinding(const Snapshot& s) {
    for (const Finding& f : s.findings) {
      if (f.problem.find("rate-limited") != std::string::npos) return &f;
    }
    return nullptr;
  }
};

TEST_F(SnapshotLimits, NamesTheMostRateLimitedSourcesWithAHint) {
  limit(10, 10);
  flood("192.0.2.7:1000", 510);
  flood("192.0.2.8:1000", 20);
  const Snapshot s = takeSnapshot(sources(), t0_ + std::chrono::seconds(5));
  ASSERT_EQ(s.frontends.size(), 1u);
  const auto& top = s.frontends[0].rate_limited;
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].source, "192.0.2.7");
  EXPECT_EQ(top[0].limited, 500u);
  EXPECT_FALSE(top[0].prefix);
  EXPECT_EQ(top[1].source, "192.0.2.8");
  const Finding* f = limitFinding(s);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->severity, "warning");
  EXPECT_EQ(f->subject, "frontend lan");
  EXPECT_EQ(f->problem,
            "510 requests rate-limited (10/s per address, burst 10; 1000/s per /24 and /56, burst 1000); most "
            "refused: 192.0.2.7 (500), 192.0.2.8 (10)");
  EXPECT_NE(f->hint.find("raise frontend.lan.rate_limit"), std::string::npos) << f->hint;
  EXPECT_TRUE(s.ok()) << "a warning, not an error";
}

TEST_F(SnapshotLimits, TheWarningEndsAMinuteAfterTheLastRefusalButTheListStays) {
  limit(1, 1);
  flood("192.0.2.7:1", 3);
  const Snapshot s = takeSnapshot(sources(), t0_ + std::chrono::seconds(61));
  EXPECT_EQ(limitFinding(s), nullptr);
  ASSERT_EQ(s.frontends[0].rate_limited.size(), 1u);
}

TEST_F(SnapshotLimits, NothingWhenNothingWasRefused) {
  limit(10, 10);
  flood("192.0.2.7:1", 5);
  const Snapshot s = takeSnapshot(sources(), t0_);
  EXPECT_TRUE(s.frontends[0].rate_limited.empty());
  EXPECT_EQ(limitFinding(s), nullptr);
}

TEST_F(SnapshotLimits, TheListSurvivesTheJson) {
  limit(1, 1);
  flood("192.0.2.7:1", 3);
  FrontendConfig fc = frontends_[0]->config();
  fc.rate.burst = 100;
  fc.rate.prefix_per_minute = 60;
  fc.rate.prefix_burst = 1;
  frontends_[0]->reconfigure(fc, backends_[0].get());
  flood("198.51.100.9:1", 3);
  const Snapshot s = takeSnapshot(sources(), t0_);
  ASSERT_EQ(s.frontends[0].rate_limited.size(), 2u);
  EXPECT_EQ(s.frontends[0].rate_limited[1].source, "198.51.100.0/24");
  EXPECT_TRUE(s.frontends[0].rate_limited[1].prefix);
  EXPECT_EQ(s.frontends[0].rate_limited[1].limited, 2u);
  std::string error;
  const auto doc = json::parse(toJson(s), error);
  ASSERT_TRUE(doc) << error;
  EXPECT_EQ(snapshotFromJson(*doc).frontends.at(0).rate_limited, s.frontends[0].rate_limited);
}

}  // namespace
}  // namespace udpx

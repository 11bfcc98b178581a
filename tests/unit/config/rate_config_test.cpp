// The loader's rate-limit keys of [frontend.NAME]: rates, bursts, prefixes, kod, and their
// preset defaults; errors with FILE:LINE:COL.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace udpx {
namespace {

LoadResult loadFrontend(const std::string& preset, const std::string& keys) {
  const std::string text = "[frontend.f]\nlisten = [\"127.0.0.1:1123\"]\npreset = \"" + preset +
                           "\"\nbackend = \"b\"\n" + keys + "\n[backend.b]\nservers = [\"127.0.0.1:9\"]\n";
  return loadConfigString(text, "t.toml");
}

std::string errors(const LoadResult& r) {
  std::string out;
  for (const ConfigError& e : r.errors) out += e.format() + "\n";
  return out;
}

TEST(RateConfig, PresetDefaultsAreOnForNtpAndDnsOffForRaw) {
  auto ntp = loadFrontend("ntp", "");
  ASSERT_TRUE(ntp.config) << errors(ntp);
  const RateLimitConfig& r = ntp.config->frontends[0].rate;
  EXPECT_EQ(r.per_minute, 50u * 60);
  EXPECT_EQ(r.burst, 100u);
  EXPECT_EQ(r.prefix_per_minute, 500u * 60);
  EXPECT_EQ(r.prefix_burst, 1000u);
  EXPECT_EQ(r.prefix_v4, 24);
  EXPECT_EQ(r.prefix_v6, 56);
  EXPECT_FALSE(r.kod);
  auto dns = loadFrontend("dns", "");
  ASSERT_TRUE(dns.config) << errors(dns);
  EXPECT_EQ(dns.config->frontends[0].rate.per_minute, 500u * 60);
  auto raw = loadFrontend("raw", "");
  ASSERT_TRUE(raw.config) << errors(raw);
  EXPECT_EQ(raw.config->frontends[0].rate.per_minute, 0u);
  EXPECT_EQ(raw.config->frontends[0].rate.prefix_per_minute, 0u);
}

TEST(RateConfig, ReadsRatesPerSecondAndPerMinuteAndTheirBursts) {
  auto r = loadFrontend("ntp",
                        "rate_limit = \"20/s\"\nrate_limit_prefix = \"30/min\"\nrate_prefix_v4 = 32\n"
                        "rate_prefix_v6 = 64\nkod = true\n");
  ASSERT_TRUE(r.config) << errors(r);
  const RateLimitConfig& c = r.config->frontends[0].rate;
  EXPECT_EQ(c.per_minute, 1200u);
  EXPECT_EQ(c.burst, 40u);  // two seconds' worth
  EXPECT_EQ(c.prefix_per_minute, 30u);
  EXPECT_EQ(c.prefix_burst, 1u);
  EXPECT_EQ(c.prefix_v4, 32);
  EXPECT_EQ(c.prefix_v6, 64);
  EXPECT_TRUE(c.kod);
  auto b = loadFrontend("raw", "rate_limit = \"5/s\"\nrate_burst = 7\nrate_limit_prefix = \"off\"\n");
  ASSERT_TRUE(b.config) << errors(b);
  EXPECT_EQ(b.config->frontends[0].rate.per_minute, 300u);
  EXPECT_EQ(b.config->frontends[0].rate.burst, 7u);
  EXPECT_EQ(b.config->frontends[0].rate.prefix_per_minute, 0u);
}

TEST(RateConfig, BadValuesAreReportedWhereTheyAreWritten) {
  auto r = loadFrontend("ntp",
                        "rate_limit = \"20/hour\"\nrate_limit_prefix = \"0/s\"\nrate_burst = 0\n"
                        "rate_prefix_v4 = 33\nkod = \"yes\"\n");
  EXPECT_FALSE(r.config);
  const std::string e = errors(r);
  EXPECT_NE(e.find("t.toml:5:14: frontend.f.rate_limit: bad rate \"20/hour\""), std::string::npos) << e;
  EXPECT_NE(e.find("t.toml:6:21: frontend.f.rate_limit_prefix: rate \"0/s\" is out of range"), std::string::npos) << e;
  EXPECT_NE(e.find("t.toml:7:14: frontend.f.rate_burst:"), std::string::npos) << e;
  EXPECT_NE(e.find("t.toml:8:18: frontend.f.rate_prefix_v4:"), std::string::npos) << e;
  EXPECT_NE(e.find("t.toml:9:7: frontend.f.kod:"), std::string::npos) << e;
  EXPECT_EQ(r.errors.size(), 5u) << e;
}

TEST(RateConfig, KodIsForNtpOnly) {
  auto r = loadFrontend("dns", "kod = true\n");
  EXPECT_FALSE(r.config);
  EXPECT_NE(errors(r).find("t.toml:5:7: frontend.f.kod: preset \"dns\" has no kiss-o'-death"), std::string::npos)
      << errors(r);
  EXPECT_TRUE(loadFrontend("dns", "kod = false\n").config);
}

}  // namespace
}  // namespace udpx

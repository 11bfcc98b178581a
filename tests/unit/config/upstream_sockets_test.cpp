// The loader's upstream_sockets key and the balance default: shared for ntp and dns with one
// reply per request, refused (file:line:col) where the protocol has no reply token or more
// replies are allowed; upstream_pool_sockets (1..16, only with a shared pool); hash for backends
// used only by ntp frontends.
#include <gtest/gtest.h>

#include <string>

#include "config/config.h"

namespace udpx {
namespace {

LoadResult load(const std::string& frontend_keys, const std::string& preset, const std::string& backend_keys = "") {
  const std::string text = "[frontend.f]\nlisten = [\"127.0.0.1:1123\"]\npreset = \"" + preset +
                           "\"\nbackend = \"b\"\n" + frontend_keys + "\n[backend.b]\nservers = [\"127.0.0.1:9\"]\n" +
                           backend_keys + "\n";
  return loadConfigString(text, "t.toml");
}

UpstreamSocketsMode modeOf(const LoadResult& r) {
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0].format());
  return r.config ? r.config->frontends.at(0).upstream_sockets : UpstreamSocketsMode::PerSession;
}

TEST(UpstreamSocketsConfig, SharedIsTheDefaultForNtpAndDnsWithOneReply) {
  EXPECT_EQ(modeOf(load("", "ntp")), UpstreamSocketsMode::Shared);
  EXPECT_EQ(modeOf(load("", "dns")), UpstreamSocketsMode::Shared);
  EXPECT_EQ(modeOf(load("responses = 2", "dns")), UpstreamSocketsMode::PerSession);
  EXPECT_EQ(modeOf(load("", "syslog")), UpstreamSocketsMode::PerSession);
  EXPECT_EQ(modeOf(load("", "raw")), UpstreamSocketsMode::PerSession);
}

TEST(UpstreamSocketsConfig, PerSessionCanBeChosen) {
  EXPECT_EQ(modeOf(load("upstream_sockets = \"per-session\"", "ntp")), UpstreamSocketsMode::PerSession);
}

TEST(UpstreamSocketsConfig, SharedIsRefusedWithoutAReplyToken) {
  const LoadResult r = load("upstream_sockets = \"shared\"", "raw");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].format(),
            "t.toml:5:20: frontend.f.upstream_sockets: preset raw has no reply token to tell clients apart on a "
            "shared socket (use upstream_sockets = \"per-session\" (shared works for ntp and dns))");
  EXPECT_FALSE(r.config);
}

TEST(UpstreamSocketsConfig, SharedIsRefusedWithMoreThanOneReply) {
  const LoadResult r = load("responses = \"unlimited\"\nupstream_sockets = \"shared\"", "dns");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("need responses = 1"), std::string::npos) << r.errors[0].format();
}

std::uint32_t poolOf(const LoadResult& r) {
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0].format());
  return r.config ? r.config->frontends.at(0).upstream_pool_sockets : 0;
}

TEST(UpstreamSocketsConfig, PoolSocketsDefaultToFourAndMayBeOneToSixteen) {
  EXPECT_EQ(poolOf(load("", "ntp")), 4u);
  EXPECT_EQ(poolOf(load("", "dns")), 4u);
  EXPECT_EQ(poolOf(load("upstream_pool_sockets = 1", "ntp")), 1u);
  EXPECT_EQ(poolOf(load("upstream_sockets = \"shared\"\nupstream_pool_sockets = 16", "dns")), 16u);
}

TEST(UpstreamSocketsConfig, PoolSocketsOutOfRangeAreRefusedWhereWritten) {
  for (const char* value : {"0", "17", "-1"}) {
    const LoadResult r = load(std::string("upstream_pool_sockets = ") + value, "ntp");
    ASSERT_EQ(r.errors.size(), 1u) << value;
    EXPECT_EQ(r.errors[0].format(),
              std::string("t.toml:5:25: frontend.f.upstream_pool_sockets: ") + value + " is out of range (use 1..16)");
    EXPECT_FALSE(r.config);
  }
  const LoadResult text = load("upstream_pool_sockets = \"4\"", "ntp");
  ASSERT_EQ(text.errors.size(), 1u);
  EXPECT_EQ(text.errors[0].pos.line, 5u);
  EXPECT_EQ(text.errors[0].pos.col, 25u);
}

TEST(UpstreamSocketsConfig, PoolSocketsAreRefusedWithoutASharedPool) {
  const LoadResult chosen = load("upstream_sockets = \"per-session\"\nupstream_pool_sockets = 2", "ntp");
  ASSERT_EQ(chosen.errors.size(), 1u);
  EXPECT_EQ(chosen.errors[0].format(),
            "t.toml:6:25: frontend.f.upstream_pool_sockets: sizes the pool of shared upstream sockets, but this "
            "frontend has a socket per session (upstream_sockets = \"per-session\") (remove it, or set "
            "upstream_sockets = \"shared\")");
  const LoadResult raw = load("upstream_pool_sockets = 2", "raw");
  ASSERT_EQ(raw.errors.size(), 1u);
  EXPECT_EQ(raw.errors[0].hint, "remove it (shared sockets are for ntp and dns with responses = 1)");
  // A refused upstream_sockets is the one error to read, not two.
  const LoadResult both = load("upstream_sockets = \"shared\"\nupstream_pool_sockets = 2", "raw");
  ASSERT_EQ(both.errors.size(), 1u);
  EXPECT_EQ(both.errors[0].path, "frontend.f.upstream_sockets");
}

TEST(UpstreamSocketsConfig, NtpBackendsKeepEachClientOnItsServer) {
  const LoadResult ntp = load("", "ntp");
  ASSERT_TRUE(ntp.config);
  EXPECT_EQ(ntp.config->backends.at(0).balance, Balance::Hash);
  const LoadResult dns = load("", "dns");
  ASSERT_TRUE(dns.config);
  EXPECT_EQ(dns.config->backends.at(0).balance, Balance::RoundRobin);
  const LoadResult given = load("", "ntp", "balance = \"round-robin\"");
  ASSERT_TRUE(given.config);
  EXPECT_EQ(given.config->backends.at(0).balance, Balance::RoundRobin);
}

}  // namespace
}  // namespace udpx

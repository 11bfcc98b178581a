// The loader's upstream_sockets key and the balance default: shared for ntp and dns with one
// reply per request, refused (file:line:col) where the protocol has no reply token or more
// replies are allowed; hash for backends used only by ntp frontends.
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

// The configuration diff (src/app/reload_diff.cpp): one test per kind of change — nothing,
// frontends added, removed, changed, backends added, removed, servers added, removed, kept,
// settings, global — and the one-line summary each gives.
#include "app/reload_diff.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace udpx {
namespace {

Config load(const std::string& text) {
  LoadResult r = loadConfigString(text, "t.toml");
  std::string errors;
  for (const ConfigError& e : r.errors) errors += e.format() + "\n";
  EXPECT_TRUE(r.config.has_value()) << errors;
  return r.config ? *r.config : Config{};
}

// Frontends a (1123), b (1124) on backend "ntp" with two servers.
const std::string kBase = R"([frontend.a]
listen = ["127.0.0.1:1123"]
preset = "ntp"
backend = "ntp"

[frontend.b]
listen = ["127.0.0.1:1124"]
preset = "ntp"
backend = "ntp"

[backend.ntp]
servers = ["127.0.0.1:123", "127.0.0.2:123"]
)";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

const FrontendDiff& frontend(const ConfigDiff& d, const std::string& name) {
  for (const FrontendDiff& f : d.frontends) {
    if (f.name == name) return f;
  }
  ADD_FAILURE() << "no frontend " << name;
  static const FrontendDiff none;
  return none;
}

const BackendDiff& backend(const ConfigDiff& d, const std::string& name) {
  for (const BackendDiff& b : d.backends) {
    if (b.name == name) return b;
  }
  ADD_FAILURE() << "no backend " << name;
  static const BackendDiff none;
  return none;
}

TEST(ReloadDiff, SameTextIsNoChange) {
  const Config a = load(kBase), b = load(kBase);
  const ConfigDiff d = diffConfigs(a, b);
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.summary(), "no change");
  ASSERT_EQ(d.frontends.size(), 2u);
  EXPECT_EQ(d.frontends[0].change, Change::Kept);
  EXPECT_EQ(d.backends[0].servers.kept.size(), 2u);
}

TEST(ReloadDiff, ReorderedSectionsAndServersAreNoChange) {
  const Config a = load(kBase);
  const Config b = load(R"([backend.ntp]
servers = ["127.0.0.2:123", "127.0.0.1:123"]

[frontend.b]
listen = ["127.0.0.1:1124"]
preset = "ntp"
backend = "ntp"

[frontend.a]
listen = ["127.0.0.1:1123"]
preset = "ntp"
backend = "ntp"
)");
  EXPECT_TRUE(diffConfigs(a, b).empty()) << diffConfigs(a, b).summary();
}

TEST(ReloadDiff, FrontendAdded) {
  const Config a = load(kBase);
  const Config b = load(kBase + R"(
[frontend.c]
listen = ["127.0.0.1:1125"]
preset = "ntp"
backend = "ntp"
)");
  const ConfigDiff d = diffConfigs(a, b);
  EXPECT_EQ(frontend(d, "c").change, Change::Added);
  EXPECT_EQ(frontend(d, "c").before, nullptr);
  EXPECT_EQ(frontend(d, "a").change, Change::Kept);
  EXPECT_EQ(d.summary(), "+1 frontend (c)");
}

TEST(ReloadDiff, FrontendRemoved) {
  const Config a = load(kBase);
  const Config b = load(replaced(kBase, "[frontend.b]\nlisten = [\"127.0.0.1:1124\"]\npreset = \"ntp\"\nbackend = \"ntp\"\n", ""));
  const ConfigDiff d = diffConfigs(a, b);
  EXPECT_EQ(frontend(d, "b").change, Change::Removed);
  EXPECT_EQ(frontend(d, "b").after, nullptr);
  EXPECT_EQ(d.summary(), "-1 frontend (b)");
}

TEST(ReloadDiff, FrontendSettingsChanged) {
  const Config a = load(kBase);
  const Config b = load(replaced(kBase, "listen = [\"127.0.0.1:1124\"]\n",
                                 "listen = [\"127.0.0.1:1124\", \"127.0.0.1:1126\"]\nsession_timeout = \"1s\"\n"
                                 "allow = [\"127.0.0.1/32\"]\nmax_sessions = 7\n"));
  const ConfigDiff d = diffConfigs(a, b);
  const FrontendDiff& f = frontend(d, "b");
  EXPECT_EQ(f.change, Change::Changed);
  EXPECT_TRUE(f.changed("listen"));
  EXPECT_TRUE(f.changed("session_timeout"));
  EXPECT_TRUE(f.changed("allow"));
  EXPECT_TRUE(f.changed("max_sessions"));
  EXPECT_FALSE(f.changed("preset"));
  EXPECT_EQ(frontend(d, "a").change, Change::Kept);
  EXPECT_EQ(d.summary(), "frontend b: listen, allow, session_timeout, max_sessions changed");
}

TEST(ReloadDiff, PoolSocketsChangedIsAFrontendChange) {
  const Config a = load(kBase);
  const Config b = load(replaced(kBase, "listen = [\"127.0.0.1:1124\"]\n",
                                 "listen = [\"127.0.0.1:1124\"]\nupstream_pool_sockets = 2\n"));
  const ConfigDiff d = diffConfigs(a, b);
  EXPECT_EQ(frontend(d, "b").change, Change::Changed);
  EXPECT_TRUE(frontend(d, "b").changed("upstream_pool_sockets"));
  EXPECT_EQ(d.summary(), "frontend b: upstream_pool_sockets changed");
}

// Each of these alone changes the frontend, so the reload applies it (Frontend::reconfigure,
// Proxy::reconfigured) instead of keeping the old settings.
TEST(ReloadDiff, LimitsAndUpstreamSocketsAloneAreFrontendChanges) {
  const Config a = load(kBase);
  const std::string at = "listen = [\"127.0.0.1:1124\"]\n";
  const std::pair<const char*, const char*> cases[] = {
      {"rate_limit = \"10/s\"", "rate limits"},
      {"kod = true", "rate limits"},
      {"rate_prefix_v4 = 16", "rate limits"},
      {"max_sessions_per_client = 3", "max_sessions_per_client"},
      {"upstream_sockets = \"per-session\"", "upstream_sockets"},
  };
  for (const auto& [line, setting] : cases) {
    const Config b = load(replaced(kBase, at, at + line + "\n"));
    const ConfigDiff d = diffConfigs(a, b);
    EXPECT_EQ(frontend(d, "b").change, Change::Changed) << line;
    EXPECT_EQ(d.summary(), std::string("frontend b: ") + setting + " changed") << line;
  }
}

TEST(ReloadDiff, ServersAddedRemovedKept) {
  const Config a = load(kBase);
  const Config b = load(replaced(kBase, R"(servers = ["127.0.0.1:123", "127.0.0.2:123"])",
                                 R"(servers = ["127.0.0.1:123", "127.0.0.3:123"])"));
  const ConfigDiff d = diffConfigs(a, b);
  const BackendDiff& be = backend(d, "ntp");
  EXPECT_EQ(be.change, Change::Changed);
  ASSERT_EQ(be.servers.added.size(), 1u);
  EXPECT_EQ(serverKey(*be.servers.added[0]), "127.0.0.3:123");
  ASSERT_EQ(be.servers.removed.size(), 1u);
  EXPECT_EQ(be.servers.removed[0], "127.0.0.2:123");
  ASSERT_EQ(be.servers.kept.size(), 1u);
  EXPECT_EQ(be.servers.kept[0], "127.0.0.1:123");
  EXPECT_EQ(frontend(d, "a").change, Change::Kept);
  EXPECT_EQ(d.summary(), "backend ntp: 1 server added, 1 draining");
}

TEST(ReloadDiff, BackendAddedAndFrontendMoved) {
  const Config a = load(kBase);
  const Config b = load(replaced(kBase, "listen = [\"127.0.0.1:1124\"]\npreset = \"ntp\"\nbackend = \"ntp\"",
                                 "listen = [\"127.0.0.1:1124\"]\npreset = \"ntp\"\nbackend = \"other\"") +
                        "\n[backend.other]\nservers = [\"127.0.0.9:123\"]\n");
  const ConfigDiff d = diffConfigs(a, b);
  EXPECT_EQ(backend(d, "other").change, Change::Added);
  EXPECT_TRUE(frontend(d, "b").changed("backend"));
  EXPECT_EQ(d.summary(), "frontend b: backend changed, +1 backend (other)");
}

TEST(ReloadDiff, BackendRemoved) {
  const Config a = load(kBase + "\n[backend.spare]\nservers = [\"127.0.0.9:123\"]\n");
  const Config b = load(kBase);
  const ConfigDiff d = diffConfigs(a, b);
  EXPECT_EQ(backend(d, "spare").change, Change::Removed);
  EXPECT_EQ(d.summary(), "-1 backend (spare)");
}

TEST(ReloadDiff, BackendSettingsChanged) {
  const Config a = load(kBase);
  const Config b = load(kBase + "balance = \"first\"\nfail_timeout = \"3s\"\n");
  const ConfigDiff d = diffConfigs(a, b);
  const BackendDiff& be = backend(d, "ntp");
  EXPECT_EQ(be.change, Change::Changed);
  EXPECT_TRUE(be.servers.added.empty());
  EXPECT_EQ(be.settings, (std::vector<std::string>{"balance", "fail_timeout"}));
  EXPECT_EQ(d.summary(), "backend ntp: balance, fail_timeout changed");
}

TEST(ReloadDiff, GlobalChanged) {
  const Config a = load(kBase);
  const Config b = load("[global]\nlog_level = \"debug\"\nmax_sessions = 100\n" + kBase);
  const ConfigDiff d = diffConfigs(a, b);
  EXPECT_EQ(d.global, (std::vector<std::string>{"log_level", "max_sessions"}));
  EXPECT_FALSE(d.empty());
  EXPECT_EQ(d.summary(), "global: log_level, max_sessions changed");
}

TEST(ReloadDiff, EverythingAtOnceInOneLine) {
  const Config a = load(kBase);
  const Config b = load(replaced(kBase, "[frontend.a]", "[frontend.c]") + "\n[backend.x]\nservers = [\"127.0.0.9:123\"]\n");
  const ConfigDiff d = diffConfigs(a, b);
  EXPECT_EQ(d.summary(), "+1 frontend (c), -1 frontend (a), +1 backend (x)");
}

}  // namespace
}  // namespace udpx

// The configuration diff: every kind of change, and its one-line summary.
#include "app/reload_diff.h"

#include <gtest/gtest.h>

#include <string>

namespace udpx {
namespace {

Config load(const std::string& text) {
  LoadResult r = loadConfigString(text, "test.toml");
  for (const ConfigError& e : r.errors) ADD_FAILURE() << e.format();
  return r.config.value_or(Config{});
}

// Frontends a (and optionally c) on backend b with the servers given.
std::string config(const std::string& servers, const std::string& extra = "") {
  return "[frontend.a]\nlisten = [\"127.0.0.1:15001\"]\npreset = \"ntp\"\nbackend = \"b\"\n" + extra +
         "[backend.b]\nservers = [" + servers + "]\n";
}

const FrontendDiff& frontend(const ConfigDiff& d, const std::string& name) {
  for (const FrontendDiff& f : d.frontends) {
    if (f.name == name) return f;
  }
  ADD_FAILURE() << "no frontend " << name;
  return d.frontends.front();
}

TEST(ConfigDiff, TheSameFileIsNoChange) {
  const Config a = load(config("\"127.0.0.1:123\""));
  const Config b = load(config("\"127.0.0.1:123\""));
  const ConfigDiff d = diffConfigs(a, b);
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.summary(), "no change");
  ASSERT_EQ(d.frontends.size(), 1u);
  EXPECT_EQ(d.frontends[0].change, Change::Kept);
}

TEST(ConfigDiff, MovedLinesAndCommentsAreNoChange) {
  const Config a = load(config("\"127.0.0.1:123\", \"127.0.0.2:123\""));
  const Config b = load("# a comment\n\n" + config("\"127.0.0.2:123\", \"127.0.0.1\""));
  EXPECT_EQ(diffConfigs(a, b).summary(), "no change");
}

TEST(ConfigDiff, AddsRemovesAndKeepsFrontendsByName) {
  const std::string c = "[frontend.c]\nlisten = [\"127.0.0.1:15003\"]\npreset = \"ntp\"\nbackend = \"b\"\n";
  const std::string z = "[frontend.z]\nlisten = [\"127.0.0.1:15009\"]\npreset = \"ntp\"\nbackend = \"b\"\n";
  const Config a = load(config("\"127.0.0.1:123\"", z));
  const Config b = load(config("\"127.0.0.1:123\"", c));
  const ConfigDiff d = diffConfigs(a, b);
  ASSERT_EQ(d.frontends.size(), 3u);  // a, c, z: sorted by name
  EXPECT_EQ(d.frontends[0].name, "a");
  EXPECT_EQ(d.frontends[0].change, Change::Kept);
  EXPECT_EQ(d.frontends[1].name, "c");
  EXPECT_EQ(d.frontends[1].change, Change::Added);
  EXPECT_EQ(d.frontends[1].before, nullptr);
  EXPECT_EQ(d.frontends[2].name, "z");
  EXPECT_EQ(d.frontends[2].change, Change::Removed);
  EXPECT_EQ(d.frontends[2].after, nullptr);
  EXPECT_EQ(d.summary(), "+1 frontend (c), -1 frontend (z)");
}

TEST(ConfigDiff, NamesEveryChangedFrontendSetting) {
  const Config a = load(config("\"127.0.0.1:123\""));
  const Config b = load(
      "[frontend.a]\nlisten = [\"127.0.0.1:15002\"]\npreset = \"dns\"\nbackend = \"b\"\nallow = [\"127.0.0.0/8\"]\n"
      "session_timeout = \"5s\"\nmax_sessions = 10\nresponses = 2\nmax_datagram = 1000\n"
      "[backend.b]\nservers = [\"127.0.0.1:123\"]\n");
  const ConfigDiff d = diffConfigs(a, b);
  const FrontendDiff& f = frontend(d, "a");
  EXPECT_EQ(f.change, Change::Changed);
  for (const char* key : {"listen", "preset", "allow", "session_timeout", "max_sessions", "responses", "max_datagram"}) {
    EXPECT_TRUE(f.changed(key)) << key;
  }
  EXPECT_FALSE(f.changed("backend"));
  // The backend's probe follows its frontends' preset (ntp -> dns): a change of the backend too.
  EXPECT_EQ(d.summary(),
            "frontend a: listen, preset, allow, session_timeout, max_sessions, responses, max_datagram changed, "
            "backend b: health changed");
}

TEST(ConfigDiff, AFrontendMovedToAnotherBackend) {
  const Config a = load(config("\"127.0.0.1:123\"") + "[backend.n]\nservers = [\"127.0.0.9:123\"]\n");
  std::string moved = config("\"127.0.0.1:123\"") + "[backend.n]\nservers = [\"127.0.0.9:123\"]\n";
  moved.replace(moved.find("backend = \"b\""), 13, "backend = \"n\"");
  const ConfigDiff d = diffConfigs(a, load(moved));
  EXPECT_TRUE(frontend(d, "a").changed("backend"));
  // Each backend's probe type follows the presets of the frontends using it: b loses its ntp
  // frontend (no probe now), n gains one.
  EXPECT_EQ(d.summary(), "frontend a: backend changed, backend b: health changed, backend n: health changed");
}

TEST(ConfigDiff, ServersAddedRemovedAndKept) {
  const Config a = load(config("\"127.0.0.1:123\", \"127.0.0.2:123\""));
  const Config b = load(config("\"127.0.0.2:123\", \"127.0.0.3:123\""));
  const ConfigDiff d = diffConfigs(a, b);
  ASSERT_EQ(d.backends.size(), 1u);
  const BackendDiff& be = d.backends[0];
  EXPECT_EQ(be.change, Change::Changed);
  ASSERT_EQ(be.servers.added.size(), 1u);
  EXPECT_EQ(serverKey(*be.servers.added[0]), "127.0.0.3:123");
  EXPECT_EQ(be.servers.removed, std::vector<std::string>{"127.0.0.1:123"});
  EXPECT_EQ(be.servers.kept, std::vector<std::string>{"127.0.0.2:123"});
  EXPECT_EQ(d.summary(), "backend b: 1 server added, 1 draining");
}

TEST(ConfigDiff, ServerKeysAreAddressesOrHostNames) {
  const Config a = load(config("\"127.0.0.1\", \"ntp.example.org\""));
  ASSERT_EQ(a.backends.size(), 1u);
  EXPECT_EQ(serverKey(a.backends[0].servers[0]), "127.0.0.1:123");
  EXPECT_EQ(serverKey(a.backends[0].servers[1]), "ntp.example.org:123");
}

TEST(ConfigDiff, BackendSettingsApartFromServers) {
  const Config a = load(config("\"127.0.0.1:123\""));
  const Config b = load(config("\"127.0.0.1:123\"") +
                        "balance = \"first\"\nfail_timeout = \"3s\"\non_all_down = \"drop\"\n"
                        "[backend.b.health]\ninterval = \"2s\"\n");
  const ConfigDiff d = diffConfigs(a, b);
  EXPECT_EQ(d.backends[0].settings, (std::vector<std::string>{"balance", "fail_timeout", "health", "on_all_down"}));
  EXPECT_TRUE(d.backends[0].servers.added.empty());
  EXPECT_EQ(d.summary(), "backend b: balance, fail_timeout, health, on_all_down changed");
}

TEST(ConfigDiff, BackendsAddedAndRemoved) {
  const Config a = load(config("\"127.0.0.1:123\"") + "[backend.old]\nservers = [\"127.0.0.5:123\"]\n");
  const Config b = load(config("\"127.0.0.1:123\"") + "[backend.new]\nservers = [\"127.0.0.6:123\"]\n");
  const ConfigDiff d = diffConfigs(a, b);
  ASSERT_EQ(d.backends.size(), 3u);  // b, new, old
  EXPECT_EQ(d.backends[1].name, "new");
  EXPECT_EQ(d.backends[1].change, Change::Added);
  EXPECT_EQ(d.backends[2].name, "old");
  EXPECT_EQ(d.backends[2].change, Change::Removed);
  EXPECT_EQ(d.summary(), "+1 backend (new), -1 backend (old)");
}

TEST(ConfigDiff, GlobalKeys) {
  const Config a = load(config("\"127.0.0.1:123\""));
  const Config b = load("[global]\nlog_level = \"debug\"\nmax_sessions = 100\nresolvers = [\"127.0.0.1:53\"]\n" +
                        config("\"127.0.0.1:123\""));
  const ConfigDiff d = diffConfigs(a, b);
  EXPECT_EQ(d.global, (std::vector<std::string>{"log_level", "max_sessions", "resolvers"}));
  EXPECT_FALSE(d.empty());
  EXPECT_EQ(d.summary(), "global: log_level, max_sessions, resolvers changed");
}

TEST(ConfigDiff, EverythingAtOnceInTheSummaryOrder) {
  const std::string c = "[frontend.c]\nlisten = [\"127.0.0.1:15003\"]\npreset = \"ntp\"\nbackend = \"b\"\n";
  const std::string a_only = "[frontend.x]\nlisten = [\"127.0.0.1:15004\"]\npreset = \"ntp\"\nbackend = \"b\"\n";
  const Config a = load(config("\"127.0.0.1:123\"", a_only));
  const Config b = load(config("\"127.0.0.1:123\", \"127.0.0.2:123\"", c));
  EXPECT_EQ(diffConfigs(a, b).summary(), "+1 frontend (c), -1 frontend (x), backend b: 1 server added");
}

}  // namespace
}  // namespace udpx

// Command line: modes, one-line preset flags, errors mapped back to flags.
#include "app/cli.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/config.h"

namespace udpx {
namespace {

std::optional<CliOptions> parse(std::vector<std::string> args, std::string& error) {
  args.insert(args.begin(), "udpx");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return parseCommandLine(static_cast<int>(args.size()), argv.data(), error);
}

TEST(CommandLine, RunsDefaultConfigWithoutArguments) {
  std::string err;
  auto o = parse({}, err);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->mode, CliOptions::Mode::Run);
  EXPECT_EQ(o->config_path, "/etc/udpx/udpx.toml");
}

TEST(CommandLine, CheckTakesConfigPath) {
  std::string err;
  auto o = parse({"check", "-c", "/tmp/x.toml"}, err);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->mode, CliOptions::Mode::Check);
  EXPECT_EQ(o->config_path, "/tmp/x.toml");
  o = parse({"--config=/tmp/y.toml"}, err);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->config_path, "/tmp/y.toml");
}

TEST(CommandLine, RejectsUnknownArgumentAndMissingValue) {
  std::string err;
  EXPECT_FALSE(parse({"--frobnicate"}, err));
  EXPECT_NE(err.find("--frobnicate"), std::string::npos);
  EXPECT_FALSE(parse({"-c"}, err));
  EXPECT_NE(err.find("needs a value"), std::string::npos);
}

TEST(CommandLine, OneLineFlagsNeedPresetListenAndUpstream) {
  std::string err;
  EXPECT_FALSE(parse({"--listen", "127.0.0.1:1"}, err));
  EXPECT_NE(err.find("need --preset"), std::string::npos);
  EXPECT_FALSE(parse({"--preset", "ntp", "--listen", "127.0.0.1:1"}, err));
  EXPECT_NE(err.find("--upstream"), std::string::npos);
  EXPECT_FALSE(parse({"--preset", "ntp", "-c", "x", "--listen", "127.0.0.1:1", "--upstream", "h"}, err));
}

TEST(CommandLine, OneLinePresetBuildsAValidConfig) {
  std::string err;
  auto o = parse({"--preset", "ntp", "--listen", "127.0.0.1:1123", "--listen", "[::1]:1123", "--upstream",
                  "127.0.0.1", "--upstream", "127.0.0.2:1234", "--timeout", "1500ms", "--balance", "first"},
                 err);
  ASSERT_TRUE(o) << err;
  LoadResult r = loadConfigString(oneLineConfig(*o), "<command line>");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].format();
  const Config& c = *r.config;
  ASSERT_EQ(c.frontends.size(), 1u);
  EXPECT_EQ(c.frontends[0].preset, Preset::Ntp);
  EXPECT_EQ(c.frontends[0].listen.size(), 2u);
  EXPECT_EQ(c.frontends[0].session_timeout, std::chrono::milliseconds(1500));
  ASSERT_EQ(c.backends.size(), 1u);
  EXPECT_EQ(c.backends[0].balance, Balance::First);
  ASSERT_EQ(c.backends[0].servers.size(), 2u);
  EXPECT_EQ(c.backends[0].servers[0].port, 123);  // the ntp preset's port
  EXPECT_EQ(c.backends[0].servers[1].port, 1234);
}

TEST(CommandLine, OneLineErrorsNameTheFlag) {
  std::string err;
  auto o = parse({"--preset", "ntp", "--listen", "127.0.0.1:1123", "--listen", "127.0.0.1:99999", "--upstream",
                  "127.0.0.1"},
                 err);
  ASSERT_TRUE(o);
  LoadResult r = loadConfigString(oneLineConfig(*o), "<command line>");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(flagForPath(r.errors[0].path), "--listen #2");
  EXPECT_EQ(flagForPath("backend.cli.servers[0]"), "--upstream #1");
  EXPECT_EQ(flagForPath("frontend.cli.session_timeout"), "--timeout");
}

TEST(CommandLine, QuotesInFlagsCannotInjectConfig) {
  std::string err;
  auto o = parse({"--preset", "raw", "--listen", "127.0.0.1:1\"\nbackend = \"x", "--upstream", "127.0.0.1:2"}, err);
  ASSERT_TRUE(o);
  LoadResult r = loadConfigString(oneLineConfig(*o), "<command line>");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(flagForPath(r.errors[0].path), "--listen #1");
}


TEST(CommandLine, StatusTakesConfigSocketAndJson) {
  std::string err;
  auto o = parse({"status"}, err);
  ASSERT_TRUE(o) << err;
  EXPECT_EQ(o->mode, CliOptions::Mode::Status);
  EXPECT_EQ(o->config_path, "/etc/udpx/udpx.toml");
  EXPECT_FALSE(o->json);
  o = parse({"status", "-c", "/tmp/x.toml", "--json", "--socket", "@udpx:x"}, err);
  ASSERT_TRUE(o) << err;
  EXPECT_EQ(o->config_path, "/tmp/x.toml");
  EXPECT_TRUE(o->json);
  EXPECT_EQ(o->status_socket, "@udpx:x");
  EXPECT_FALSE(parse({"status", "--preset", "ntp", "--listen", "127.0.0.1:1", "--upstream", "1.2.3.4"}, err));
  EXPECT_FALSE(parse({"--json"}, err));
  EXPECT_EQ(err, "unknown argument \"--json\"");
}

TEST(CommandLine, ReloadTakesConfigAndSocketOnly) {
  std::string err;
  auto o = parse({"reload"}, err);
  ASSERT_TRUE(o) << err;
  EXPECT_EQ(o->mode, CliOptions::Mode::Reload);
  EXPECT_EQ(o->config_path, "/etc/udpx/udpx.toml");
  o = parse({"reload", "-c", "/tmp/x.toml", "--socket", "@udpx:x"}, err);
  ASSERT_TRUE(o) << err;
  EXPECT_EQ(o->config_path, "/tmp/x.toml");
  EXPECT_EQ(o->status_socket, "@udpx:x");
  EXPECT_FALSE(parse({"reload", "--json"}, err));
  EXPECT_FALSE(parse({"reload", "--log-level", "debug"}, err));
  EXPECT_EQ(err, "udpx reload takes only -c FILE and --socket NAME");
  EXPECT_NE(std::string(usageText()).find("udpx reload [-c FILE]"), std::string::npos);
}

TEST(CommandLine, ListenFdTakesFrontendAndNumber) {
  std::string err;
  auto o = parse({"-c", "x.toml", "--listen-fd", "lan_ntp=3", "--listen-fd=dns=4"}, err);
  ASSERT_TRUE(o) << err;
  ASSERT_EQ(o->listen_fds.size(), 2u);
  EXPECT_EQ(o->listen_fds[0], (std::pair<std::string, int>{"lan_ntp", 3}));
  EXPECT_EQ(o->listen_fds[1], (std::pair<std::string, int>{"dns", 4}));
}

TEST(CommandLine, RejectsMalformedListenFd) {
  for (const char* bad : {"3", "=3", "ntp=", "ntp=x", "ntp=-1", "ntp=99999999999"}) {
    std::string err;
    EXPECT_FALSE(parse({"--listen-fd", bad}, err)) << bad;
    EXPECT_NE(err.find("expected FRONTEND=N"), std::string::npos) << err;
  }
}

TEST(CommandLine, WorkerFdIsHiddenButParsed) {
  std::string err;
  auto o = parse({"--worker-fd", "3"}, err);
  ASSERT_TRUE(o) << err;
  EXPECT_EQ(o->worker_fd, 3);
  EXPECT_FALSE(parse({"--worker-fd", "three"}, err));
  EXPECT_EQ(std::string(usageText()).find("--worker-fd"), std::string::npos);
}

}  // namespace
}  // namespace udpx

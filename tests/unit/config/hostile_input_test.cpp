// Tests for what the loader does with hostile or mistaken input (src/config/config.cpp and
// reader.cpp): what is not a regular file, or is too large, is refused before it is read;
// values are cut in messages; host names say what is wrong with them.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/reader.h"

namespace udpx {
namespace {

std::vector<std::string> formatAll(const std::vector<ConfigError>& list) {
  std::vector<std::string> out;
  for (const ConfigError& e : list) out.push_back(e.format());
  return out;
}

// A loadConfigFile that never returns would hang the suite: run it apart and wait a bounded time.
LoadResult loadWithin(const std::string& path) {
  auto f = std::async(std::launch::async, [path] { return loadConfigFile(path); });
  if (f.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "loadConfigFile(" << path << ") did not return within 20 s";
    std::_Exit(1);  // the thread still reads; nothing else can be trusted
  }
  return f.get();
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("udpx-hostile-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(path(name), std::ios::binary) << text;
    return path(name);
  }
  std::filesystem::path dir_;
};

using ConfigFile = TempDir;

constexpr const char* kValid = R"([frontend.f]
listen = ["127.0.0.1:1123"]
preset = "ntp"
backend = "b"
[backend.b]
servers = ["127.0.0.1:123"]
)";

TEST_F(ConfigFile, ReadsARegularFile) {
  const LoadResult r = loadWithin(write("ok.toml", kValid));
  EXPECT_TRUE(r.errors.empty()) << ::testing::PrintToString(formatAll(r.errors));
  EXPECT_TRUE(r.config.has_value());
}

TEST_F(ConfigFile, RefusesACharacterDeviceBeforeReadingIt) {
  const LoadResult r = loadWithin("/dev/zero");
  EXPECT_EQ(formatAll(r.errors),
            std::vector<std::string>{"cannot read /dev/zero: it is a character device, not a regular file (name the "
                                     "configuration file, e.g. -c /etc/udpx/udpx.toml)"});
  EXPECT_TRUE(r.text.empty());
}

TEST_F(ConfigFile, RefusesAFifoWithoutWaitingForAWriter) {
  const std::string fifo = path("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const LoadResult r = loadWithin(fifo);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("it is a FIFO (named pipe), not a regular file"), std::string::npos)
      << r.errors[0].format();
}

TEST_F(ConfigFile, RefusesADirectory) {
  const LoadResult r = loadWithin(dir_.string());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].message.find("it is a directory, not a regular file"), std::string::npos)
      << r.errors[0].format();
}

TEST_F(ConfigFile, RefusesAFileOverTheLimitBeforeReadingIt) {
  // Valid TOML all the way: only its size is wrong.
  std::string big = kValid;
  while (big.size() <= kMaxConfigBytes) big += "# a comment line to make the file large enough\n";
  const std::string p = write("big.toml", big);
  const LoadResult r = loadWithin(p);
  ASSERT_EQ(r.errors.size(), 1u) << ::testing::PrintToString(formatAll(r.errors));
  EXPECT_EQ(r.errors[0].message, "cannot read " + p + ": it is " + std::to_string(big.size()) +
                                     " bytes, more than the 131072 udpx reads");
  EXPECT_FALSE(r.config.has_value());
  EXPECT_TRUE(r.text.empty());
}

TEST_F(ConfigFile, ReadsAFileOfExactlyTheLimit) {
  std::string text = kValid;
  text += std::string(kMaxConfigBytes - text.size() - 1, '#') + "\n";
  ASSERT_EQ(text.size(), kMaxConfigBytes);
  const LoadResult r = loadWithin(write("limit.toml", text));
  EXPECT_TRUE(r.errors.empty()) << ::testing::PrintToString(formatAll(r.errors));
}

TEST_F(ConfigFile, BoundsTheReadOfAFileWhoseSizeIsNotKnownAhead) {
  // /proc files say size 0 and are read until they end; a process's environment or its maps
  // can be any size. /proc/self/mountinfo is small; only that nothing unbounded happens matters.
  const LoadResult r = loadWithin("/proc/self/mountinfo");
  ASSERT_FALSE(r.errors.empty());
  EXPECT_EQ(r.errors[0].message.find("cannot read"), std::string::npos) << r.errors[0].format();
}

TEST(ConfigText, RefusesTextOverTheLimit) {
  const LoadResult r = loadConfigString(std::string(kMaxConfigBytes + 1, '#'), "t.toml");
  EXPECT_EQ(formatAll(r.errors),
            std::vector<std::string>{"t.toml: the configuration is 131073 bytes, more than the 131072 udpx reads (a "
                                     "udpx configuration is a few kilobytes: is this the right file? If it is, "
                                     "shorten it (fewer comments, wildcard listen addresses))"});
}

TEST(ConfigMessages, CutALongValueAndSayHowLongItWas) {
  const std::string huge(100'000, 'x');
  const LoadResult r = loadConfigString("[global]\nlog_level = \"" + huge + "\"\n" + kValid, "t.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  const std::string line = r.errors[0].format();
  EXPECT_LT(line.size(), 400u) << line.substr(0, 400);
  EXPECT_NE(line.find("unknown log level \"" + std::string(kMaxQuoted, 'x') + "\"... (100000 bytes)"),
            std::string::npos)
      << line.substr(0, 400);
  EXPECT_EQ(line.rfind("t.toml:2:13: global.log_level: ", 0), 0u) << line.substr(0, 400);
}

TEST(ConfigMessages, CutAtACharacterNotInsideIt) {
  // 79 ASCII bytes, then a two-byte 'é' straddling the cut at 80.
  const std::string value = std::string(kMaxQuoted - 1, 'a') + "\xC3\xA9" + std::string(50, 'b');
  EXPECT_EQ(udpx::quoted(value), "\"" + std::string(kMaxQuoted - 1, 'a') + "\"... (" + std::to_string(value.size()) +
                               " bytes)");
  EXPECT_EQ(udpx::quoted("short"), "\"short\"");
  EXPECT_EQ(udpx::quoted(std::string(kMaxQuoted, 'c')), "\"" + std::string(kMaxQuoted, 'c') + "\"");
}

TEST(ConfigMessages, AHugeUnknownKeyCostsNoDistanceTable) {
  // A "did you mean" over a 1 MB key would build a table of a million rows.
  const std::string key(1'000'000, 'k');
  const LoadResult r = loadConfigString(std::string(kValid) + "[global]\n" + key + " = 1\n", "t.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_LT(r.errors[0].format().size(), 600u);
}

TEST(ConfigMessages, AHostNameTooLongSaysSo) {
  const std::string host(300, 'a');
  const LoadResult r = loadConfigString(R"([frontend.f]
listen = ["127.0.0.1:1123"]
preset = "ntp"
backend = "b"
[backend.b]
servers = [")" + host + R"("]
)",
                                        "t.toml");
  EXPECT_EQ(formatAll(r.errors),
            std::vector<std::string>{"t.toml:6:12: backend.b.servers[0]: \"" + std::string(kMaxQuoted, 'a') +
                                     "\"... (300 bytes) is not a valid host name: it is too long: 300 characters, "
                                     "at most 253 (write the server's real name or its IP address)"});
}

TEST(ConfigMessages, AHostLabelTooLongSaysSo) {
  EXPECT_EQ(hostNameProblem(std::string(64, 'a') + ".example"),
            "a label is too long: 64 characters between dots, at most 63");
  EXPECT_EQ(hostNameProblem(std::string(63, 'a') + ".example"), "");
  EXPECT_EQ(hostNameProblem("a..b"), "it has an empty label (two dots in a row, or a leading dot)");
  EXPECT_EQ(hostNameProblem("a/b"), "it contains '/'");
}

TEST(ConfigMessages, ADnsQueryNameTooLongSaysSo) {
  const LoadResult r = loadConfigString(R"([frontend.f]
listen = ["127.0.0.1:1053"]
preset = "dns"
backend = "b"
[backend.b]
servers = ["127.0.0.1:53"]
[backend.b.health]
query = ")" + std::string(260, 'q') + R"("
)",
                                        "t.toml");
  ASSERT_EQ(r.errors.size(), 1u) << ::testing::PrintToString(formatAll(r.errors));
  EXPECT_NE(r.errors[0].message.find("is not a valid DNS name: it is too long: 260 characters, at most 253"),
            std::string::npos)
      << r.errors[0].format();
  EXPECT_EQ(lineCol(r.errors[0].pos), "8:9");
}

}  // namespace
}  // namespace udpx

// The environment a secure start keeps (src/app/secure_mode.cpp).
#include "app/secure_mode.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace udpx {
namespace {

bool has(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }

TEST(SafeEnvironment, KeepsTheLocaleAndAFixedPathOnly) {
  const SafeEnvironment e = safeEnvironment({"LANG=de_DE.UTF-8", "LC_TIME=C", "TERM=xterm", "PATH=/home/x/bin",
                                             "LD_PRELOAD=/tmp/x.so", "HOME=/home/x", "JOURNAL_STREAM=1:2"});
  EXPECT_TRUE(has(e.keep, "LANG=de_DE.UTF-8"));
  EXPECT_TRUE(has(e.keep, "LC_TIME=C"));
  EXPECT_TRUE(has(e.keep, "TERM=xterm"));
  EXPECT_TRUE(has(e.keep, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
  EXPECT_FALSE(has(e.keep, "PATH=/home/x/bin"));
  for (const std::string& kv : e.keep) {
    EXPECT_NE(kv.rfind("LD_", 0), 0u) << kv;
    EXPECT_NE(kv.rfind("HOME=", 0), 0u) << kv;
    EXPECT_NE(kv.rfind("JOURNAL_STREAM=", 0), 0u) << kv;
  }
  EXPECT_TRUE(e.errors.empty());
  EXPECT_TRUE(e.notes.empty());
}

TEST(SafeEnvironment, DropsLocaleValuesThatNameFiles) {
  const SafeEnvironment e = safeEnvironment({"LC_ALL=/etc/shadow", "TZ=:/etc/shadow", "LANG=../../x"});
  EXPECT_EQ(e.keep.size(), 1u);  // PATH only
}

TEST(SafeEnvironment, IgnoresTestHookAndNotifySocketAndSaysSo) {
  const SafeEnvironment e = safeEnvironment({"UDPX_TEST_HOOK=forbidden-syscall", "NOTIFY_SOCKET=/run/x"});
  ASSERT_EQ(e.notes.size(), 2u);
  EXPECT_NE(e.notes[0].find("UDPX_TEST_HOOK is ignored"), std::string::npos);
  EXPECT_NE(e.notes[1].find("NOTIFY_SOCKET is ignored"), std::string::npos);
  EXPECT_TRUE(e.errors.empty());
  for (const std::string& kv : e.keep) EXPECT_EQ(kv.find("UDPX_TEST_HOOK"), std::string::npos);
}

TEST(SafeEnvironment, RefusesSocketActivation) {
  EXPECT_EQ(safeEnvironment({"LISTEN_FDS=1"}).errors.size(), 1u);
  EXPECT_EQ(safeEnvironment({"LISTEN_PID=1", "LISTEN_FDS=2"}).errors.size(), 1u);
  EXPECT_NE(safeEnvironment({"LISTEN_PID=1"}).errors.at(0).find("refuses socket activation"), std::string::npos);
}

}  // namespace
}  // namespace udpx

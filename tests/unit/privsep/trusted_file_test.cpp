// The trusted-path rules of a secure start (src/privsep/trusted_file.cpp). The walk as another
// user is tested end to end (tests/e2e/test_secure_start.py): it needs a setuid copy.
#include "privsep/trusted_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

namespace udpx::privsep {
namespace {

struct stat statOf(mode_t type, uid_t uid, mode_t mode) {
  struct stat st{};
  st.st_mode = type | mode;
  st.st_uid = uid;
  return st;
}

TEST(TrustedFile, AcceptsRootOwnedWorldReadableFileAndRootOwnedDirectory) {
  EXPECT_EQ(untrustedReason("/etc/udpx/udpx.toml", statOf(S_IFREG, 0, 0644), true), "");
  EXPECT_EQ(untrustedReason("/etc/udpx", statOf(S_IFDIR, 0, 0755), false), "");
  EXPECT_EQ(untrustedReason("/etc/udpx", statOf(S_IFDIR, 0, 0711), false), "");
}

TEST(TrustedFile, RefusesWhatAnotherUserOwnsOrMayWrite) {
  EXPECT_NE(untrustedReason("/x.toml", statOf(S_IFREG, 65534, 0644), true).find("owned by uid 65534, not root"),
            std::string::npos);
  EXPECT_NE(untrustedReason("/d", statOf(S_IFDIR, 1000, 0755), false).find("directory /d is owned by uid 1000"),
            std::string::npos);
  EXPECT_NE(untrustedReason("/d", statOf(S_IFDIR, 0, 0775), false).find("writable by its group (mode 0775)"),
            std::string::npos);
  EXPECT_NE(untrustedReason("/tmp", statOf(S_IFDIR, 0, 01777), false).find("directory /tmp is writable"),
            std::string::npos);
  EXPECT_NE(untrustedReason("/x.toml", statOf(S_IFREG, 0, 0646), true).find("writable by others (mode 0646)"),
            std::string::npos);
}

TEST(TrustedFile, RefusesSymlinksSpecialFilesAndFilesNotEveryoneMayRead) {
  EXPECT_NE(untrustedReason("/l", statOf(S_IFLNK, 0, 0777), true).find("is a symbolic link"), std::string::npos);
  EXPECT_NE(untrustedReason("/l", statOf(S_IFLNK, 0, 0777), false).find("is a symbolic link"), std::string::npos);
  EXPECT_NE(untrustedReason("/dev/null", statOf(S_IFCHR, 0, 0644), true).find("not a regular file"),
            std::string::npos);
  EXPECT_NE(untrustedReason("/etc", statOf(S_IFREG, 0, 0644), false).find("not a directory"), std::string::npos);
  const std::string shadow = untrustedReason("/etc/shadow", statOf(S_IFREG, 0, 0640), true);
  EXPECT_NE(shadow.find("not readable by every user (mode 0640)"), std::string::npos);
  EXPECT_EQ(shadow.find("chmod"), std::string::npos) << "no advice to open up a file that is not udpx's";
}

TEST(TrustedFile, RefusesRelativePathsAndDotDot) {
  std::string text, error;
  EXPECT_FALSE(readTrustedFile("udpx.toml", 1024, getuid(), getgid(), text, error));
  EXPECT_NE(error.find("is not an absolute path"), std::string::npos) << error;
  EXPECT_FALSE(readTrustedFile("/etc/../etc/hostname", 1024, getuid(), getgid(), text, error));
  EXPECT_NE(error.find("contains \"..\""), std::string::npos) << error;
}

TEST(TrustedFile, RefusesAnythingUnderTmp) {
  char dir[] = "/tmp/udpx-trusted-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string file = std::string(dir) + "/udpx.toml";
  FILE* f = std::fopen(file.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("[global]\n", f);
  std::fclose(f);
  std::string text, error;
  EXPECT_FALSE(readTrustedFile(file, 1024, getuid(), getgid(), text, error));
  EXPECT_NE(error.find("directory /tmp is writable"), std::string::npos) << error;
  EXPECT_EQ(text, "");
  unlink(file.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace udpx::privsep

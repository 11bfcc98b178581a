// The chroot directory check and the account resolution (src/privsep/drop.cpp). The drop itself
// is tested end to end (tests/e2e/test_privsep.py): it is irreversible within a process.
#include "privsep/drop.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace udpx::privsep {
namespace {

struct stat dirStat(uid_t uid, mode_t mode) {
  struct stat st{};
  st.st_mode = S_IFDIR | mode;
  st.st_uid = uid;
  return st;
}

TEST(ChrootCheck, AcceptsRootOwnedDirectoryNotWritableByOthers) {
  EXPECT_EQ(chrootProblem("/var/empty", dirStat(0, 0755)), "");
  EXPECT_EQ(chrootProblem("/var/empty", dirStat(0, 0555)), "");
  EXPECT_EQ(chrootProblem("/var/empty", dirStat(0, 0700)), "");
}

TEST(ChrootCheck, RefusesDirectoryNotOwnedByRoot) {
  EXPECT_EQ(chrootProblem("/srv/x", dirStat(65534, 0755)),
            "global.chroot: /srv/x is owned by uid 65534, not root, so the unprivileged worker could change its "
            "own root (chown root:root /srv/x)");
}

TEST(ChrootCheck, RefusesGroupOrOtherWritableDirectory) {
  for (mode_t m : {0775, 0757, 0777, 01777}) {
    EXPECT_EQ(chrootProblem("/tmp/x", dirStat(0, m)),
              "global.chroot: /tmp/x is writable by its group or by others (chmod go-w /tmp/x)")
        << std::oct << m;
  }
}

TEST(ChrootCheck, RefusesNonDirectory) {
  struct stat st{};
  st.st_mode = S_IFREG | 0644;
  EXPECT_EQ(chrootProblem("/etc/hostname", st),
            "global.chroot: /etc/hostname is not a directory (create it: mkdir -m 0755 /etc/hostname)");
}

TEST(ChrootCheck, ChecksTheDirectoryOnDisk) {
  std::string error;
  EXPECT_FALSE(checkChrootDir("/nonexistent-udpx-chroot", error));
  EXPECT_NE(error.find("No such file or directory"), std::string::npos) << error;
  // /tmp is world-writable (sticky) on every Linux system.
  EXPECT_FALSE(checkChrootDir("/tmp", error));
  EXPECT_NE(error.find("writable"), std::string::npos) << error;
  // A symlink is refused, not followed: its target could change after the check.
  char tmpl[] = "/tmp/udpx-chroot-test-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string link = std::string(tmpl) + "/link";
  ASSERT_EQ(symlink("/", link.c_str()), 0);
  EXPECT_FALSE(checkChrootDir(link, error));
  EXPECT_NE(error.find("is not a directory"), std::string::npos) << error;
  // A fresh directory with mode 0755: fine when owned by root, refused otherwise.
  const std::string dir = std::string(tmpl) + "/root";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
  EXPECT_EQ(checkChrootDir(dir, error), geteuid() == 0) << error;
  std::filesystem::remove_all(tmpl);
}

Config configWith(std::string user, std::string group) {
  Config c;
  c.file = "u.toml";
  c.fixed.user = std::move(user);
  c.fixed.group = std::move(group);
  c.fixed.user_pos = {2, 8};
  c.fixed.group_pos = {3, 9};
  return c;
}

TEST(ResolveIdentity, UnknownUserNamesKeyPositionAndFix) {
  std::string error;
  EXPECT_FALSE(resolveIdentity(configWith("udpx-no-such-user", ""), error));
  EXPECT_EQ(error,
            "u.toml:2:8: global.user: user \"udpx-no-such-user\" does not exist (create it: useradd --system "
            "--no-create-home --shell /usr/sbin/nologin udpx-no-such-user — or name an existing unprivileged user)");
}

TEST(ResolveIdentity, UnknownGroupNamesKeyPositionAndFix) {
  std::string error;
  EXPECT_FALSE(resolveIdentity(configWith("nobody", "udpx-no-such-group"), error));
  EXPECT_EQ(error,
            "u.toml:3:9: global.group: group \"udpx-no-such-group\" does not exist (create it: groupadd --system "
            "udpx-no-such-group — or remove the key to use the user's primary group)");
}

TEST(ResolveIdentity, RefusesRoot) {
  std::string error;
  EXPECT_FALSE(resolveIdentity(configWith("root", ""), error));
  EXPECT_NE(error.find("is root, so nothing would be given up"), std::string::npos) << error;
  EXPECT_FALSE(resolveIdentity(configWith("nobody", "root"), error));
  EXPECT_NE(error.find("gid 0"), std::string::npos) << error;
}

TEST(ResolveIdentity, DefaultsToUdpxOrNobodyWithPrimaryGroup) {
  std::string error;
  auto id = resolveIdentity(configWith("", ""), error);
  ASSERT_TRUE(id) << error;
  EXPECT_TRUE(id->user == "udpx" || id->user == "nobody") << id->user;
  EXPECT_NE(id->uid, 0u);
  EXPECT_NE(id->gid, 0u);
  EXPECT_FALSE(id->group.empty());
}

}  // namespace
}  // namespace udpx::privsep

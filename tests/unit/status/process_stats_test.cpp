// ProcessStats (src/status/process_stats.cpp): the process_* values, and that reading them opens
// no file (privilege separation sandboxes the process before the first scrape).
#include "status/process_stats.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ctime>
#include <vector>

namespace udpx {
namespace {

TEST(ProcessStats, ReadsEveryValue) {
  ProcessStats p;
  ASSERT_EQ(p.problem(), "");
  const ProcessStats::Sample s = p.read();
  ASSERT_TRUE(s.cpu_seconds && s.resident_bytes && s.virtual_bytes && s.open_fds && s.start_time_seconds);
  EXPECT_GE(*s.cpu_seconds, 0.0);
  EXPECT_GT(*s.resident_bytes, 0.0);
  EXPECT_GE(*s.virtual_bytes, *s.resident_bytes);
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(*s.start_time_seconds, now + 1);
  EXPECT_GT(*s.start_time_seconds, now - 24 * 3600) << "this test process started within the last day";
  rlimit rl{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur != RLIM_INFINITY) {
    ASSERT_TRUE(s.max_fds);
    EXPECT_EQ(*s.max_fds, static_cast<double>(rl.rlim_cur));
  }
}

TEST(ProcessStats, CountsOpenFileDescriptorsExactly) {
  ProcessStats p;
  const double before = p.read().open_fds.value_or(-1);
  std::vector<int> fds;
  for (int i = 0; i < 5; ++i) fds.push_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const double during = p.read().open_fds.value_or(-1);
  for (int fd : fds) ::close(fd);
  EXPECT_EQ(during - before, 5.0);
  EXPECT_EQ(p.read().open_fds.value_or(-1), before);
}

// With RLIMIT_NOFILE at 0 no open() (nor socket(), nor any new fd) can succeed, so values that
// still arrive were read through the descriptors opened at startup.
TEST(ProcessStats, ReadsWithoutOpeningAnyFile) {
  ProcessStats p;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = 0;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) _exit(10);
    if (::open("/dev/null", O_RDONLY) >= 0) _exit(11);  // the premise: nothing can be opened
    const ProcessStats::Sample s = p.read();
    if (!s.resident_bytes || *s.resident_bytes <= 0) _exit(12);
    if (!s.open_fds || *s.open_fds < 3) _exit(13);
    if (!s.max_fds || *s.max_fds != 0) _exit(14);
    if (!s.cpu_seconds || !s.start_time_seconds) _exit(15);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: setrlimit failed, 11: open still worked, 12-15: a value was missing";
}

}  // namespace
}  // namespace udpx

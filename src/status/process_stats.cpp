// ProcessStats: /proc/self files opened once at startup, read at every scrape.
#include "status/process_stats.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string_view>

namespace udpx {
namespace {

// Reads a whole small /proc file at startup ("" when it cannot be read).
std::string readSmallFile(const char* path) {
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return "";
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// The process start time: the boot time (/proc/stat btime) plus the start tick of the process
// (/proc/self/stat field 22). Both are fixed for the life of the process.
std::optional<double> startTimeFromProc() {
  const std::string stat = readSmallFile("/proc/self/stat");
  const std::string sys = readSmallFile("/proc/stat");
  // NOTE: field 2 (comm) is in parentheses and may itself contain spaces and ')'; the fields
  // after the last ')' start with field 3.
  const auto close = stat.rfind(')');
  const auto btime_at = sys.find("\nbtime ");
  if (close == std::string::npos || btime_at == std::string::npos) return std::nullopt;
  const char* p = stat.c_str() + close + 1;
  for (int field = 3; field < 22; ++field) {
    while (*p == ' ') ++p;
    while (*p != ' ' && *p != '\0') ++p;
  }
  char* end = nullptr;
  const unsigned long long start_ticks = std::strtoull(p, &end, 10);
  if (end == p) return std::nullopt;
  const unsigned long long btime = std::strtoull(sys.c_str() + btime_at + 7, nullptr, 10);
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  if (btime == 0 || ticks_per_second <= 0) return std::nullopt;
  return static_cast<double>(btime) + static_cast<double>(start_ticks) / static_cast<double>(ticks_per_second);
}

}  // namespace

ProcessStats::ProcessStats() : page_size_(sysconf(_SC_PAGESIZE)) {
  statm_.reset(::open("/proc/self/statm", O_RDONLY | O_CLOEXEC));
  fd_dir_.reset(::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!statm_.valid() || !fd_dir_.valid()) {
    problem_ = std::string("cannot open /proc/self/") + (statm_.valid() ? "fd" : "statm") + ": " +
               std::strerror(errno) + " — process memory and file-descriptor metrics are left out; mount /proc";
  }
  start_time_ = startTimeFromProc();
  if (!start_time_) {
    // Without /proc the process started just now, as far as anyone can tell.
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    start_time_ = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  }
}

ProcessStats::Sample ProcessStats::read() const noexcept {
  Sample s;
  rusage ru{};
  if (getrusage(RUSAGE_SELF, &ru) == 0) {
    s.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                    static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  }
  if (statm_.valid()) {
    // "size resident shared text lib data dt", in pages.
    char buf[256];
    const ssize_t n = ::pread(statm_.get(), buf, sizeof buf - 1, 0);
    unsigned long long size = 0, resident = 0;
    if (n > 0) {
      buf[n] = '\0';
      if (std::sscanf(buf, "%llu %llu", &size, &resident) == 2) {
        s.virtual_bytes = static_cast<double>(size) * static_cast<double>(page_size_);
        s.resident_bytes = static_cast<double>(resident) * static_cast<double>(page_size_);
      }
    }
  }
  if (fd_dir_.valid() && ::lseek(fd_dir_.get(), 0, SEEK_SET) == 0) {
    // NOTE: getdents64 on a directory fd kept open, not opendir(): a DIR* would work too, but
    // rewinddir + readdir hide whether anything is re-opened; this is plainly two system calls.
    alignas(8) char buf[4096];
    std::uint64_t count = 0;
    bool ok = true;
    for (;;) {
      const ssize_t n = ::getdents64(fd_dir_.get(), buf, sizeof buf);
      if (n == 0) break;
      if (n < 0) {
        ok = false;
        break;
      }
      for (ssize_t off = 0; off < n;) {
        const auto* d = reinterpret_cast<const dirent64*>(buf + off);
        const std::string_view name(d->d_name);
        if (name != "." && name != "..") ++count;
        off += d->d_reclen;
      }
    }
    if (ok) s.open_fds = static_cast<double>(count);
  }
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    s.max_fds = static_cast<double>(rl.rlim_cur);
  }
  s.start_time_seconds = start_time_;
  return s;
}

}  // namespace udpx

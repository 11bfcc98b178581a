// Logging to stderr and message rate limiting.
#include "base/log.h"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace udpx {
namespace {

LogLevel g_level = LogLevel::Info;

// NOTE: systemd sets JOURNAL_STREAM when stderr is connected to the journal, which stamps
// every line itself; a second timestamp would only add noise.
bool wantTimestamps() noexcept {
  static const bool want = std::getenv("JOURNAL_STREAM") == nullptr;
  return want;
}

}  // namespace

void setLogLevel(LogLevel level) noexcept { g_level = level; }

bool logEnabled(LogLevel level) noexcept {
  return static_cast<int>(level) <= static_cast<int>(g_level);
}

void logMessage(LogLevel level, const char* fmt, ...) noexcept {
  char line[2048];
  int off = 0;
  if (wantTimestamps()) {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t{};
    gmtime_r(&ts.tv_sec, &t);
    off = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ", t.tm_year + 1900,
                        t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, ts.tv_nsec / 1000000);
  }
  const std::string_view name = logLevelName(level);
  off += std::snprintf(line + off, sizeof line - static_cast<size_t>(off), "udpx[%d]: %.*s: ",
                       static_cast<int>(getpid()), static_cast<int>(name.size()), name.data());
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(line + off, sizeof line - static_cast<size_t>(off), fmt, ap);
  va_end(ap);
  size_t len = static_cast<size_t>(off) + (n < 0 ? 0 : static_cast<size_t>(n));
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  // One write() per line so concurrent writers (binder and worker later) never interleave.
  ssize_t ignored = ::write(STDERR_FILENO, line, len);
  (void)ignored;
}

bool RateLimit::allow(TimePoint now) noexcept {
  if (first_ || now >= next_) {
    first_ = false;
    next_ = now + interval_;
    if (held_ == 0) {
      suffix_[0] = '\0';
    } else {
      std::snprintf(suffix_, sizeof suffix_, " (%llu similar message%s suppressed)",
                    static_cast<unsigned long long>(held_), held_ == 1 ? "" : "s");
    }
    held_ = 0;
    return true;
  }
  ++held_;
  return false;
}

}  // namespace udpx

// Logging to stderr and message rate limiting.
#include "base/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace udpx {
namespace {

LogLevel g_level = LogLevel::Info;

// NOTE: systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connects stderr to. Only
// when fd 2 is that stream (a child may have redirected it) do lines go to the journal, which
// stamps every line itself and reads a "<N>" syslog priority at the start (sd-daemon(3)).
bool stderrIsJournal() noexcept {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (env == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

bool toJournal() noexcept {
  static const bool journal = stderrIsJournal();
  return journal;
}

// sd-daemon(3) priorities: <3> error, <4> warning, <6> info, <7> debug.
char journalPriority(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::Error: return '3';
    case LogLevel::Warn: return '4';
    case LogLevel::Info: return '6';
    case LogLevel::Debug: return '7';
  }
  return '6';
}

}  // namespace

void setLogLevel(LogLevel level) noexcept { g_level = level; }

void prepareLogging() noexcept { (void)toJournal(); }

bool logEnabled(LogLevel level) noexcept {
  return static_cast<int>(level) <= static_cast<int>(g_level);
}

void logMessage(LogLevel level, const char* fmt, ...) noexcept {
  char line[2048];
  int off = 0;
  if (toJournal()) {
    off = std::snprintf(line, sizeof line, "<%c>", journalPriority(level));
  } else {
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

// Logging to stderr (systemd style: when stderr is the journal — JOURNAL_STREAM names fd 2 —
// each line starts with its "<N>" priority and carries no timestamp, the journal adds one), and
// rate limiting for messages that traffic could trigger.
//
// The base room (src/base/) is the floor every other room stands on: logging with its levels
// and rate limit (this file), the clocks (clock.h: the steady one the data path passes down,
// the wall clock people read) and the version. It knows nothing of sockets, configuration or
// traffic, and includes no other room.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "base/clock.h"
#include "base/enum_names.h"

namespace udpx {

enum class LogLevel : std::uint8_t { Error, Warn, Info, Debug };

// The names of the levels, as global.log_level and --log-level take them and every log line
// shows them; listed from the least to the most verbose, as messages list them.
inline constexpr EnumName<LogLevel> kLogLevelNames[] = {
    {LogLevel::Error, "error"}, {LogLevel::Warn, "warn"}, {LogLevel::Info, "info"}, {LogLevel::Debug, "debug"}};
constexpr std::string_view logLevelName(LogLevel level) noexcept { return enumToName(kLogLevelNames, level); }
constexpr std::optional<LogLevel> parseLogLevel(std::string_view name) noexcept {
  return enumFromName(kLogLevelNames, name);
}

void setLogLevel(LogLevel level) noexcept;
// Decides now, once, whether lines go to the journal (fstat of fd 2). Called before a sandbox
// that refuses fstat; otherwise the first line decides.
void prepareLogging() noexcept;
bool logEnabled(LogLevel level) noexcept;

// printf-style; one line per call, newline added.
void logMessage(LogLevel level, const char* fmt, ...) noexcept __attribute__((format(printf, 2, 3)));

#define UDPX_LOG(level, ...)                                   \
  do {                                                         \
    if (::udpx::logEnabled(level)) ::udpx::logMessage(level, __VA_ARGS__); \
  } while (0)
#define LOG_ERROR(...) UDPX_LOG(::udpx::LogLevel::Error, __VA_ARGS__)
#define LOG_WARN(...) UDPX_LOG(::udpx::LogLevel::Warn, __VA_ARGS__)
#define LOG_INFO(...) UDPX_LOG(::udpx::LogLevel::Info, __VA_ARGS__)
#define LOG_DEBUG(...) UDPX_LOG(::udpx::LogLevel::Debug, __VA_ARGS__)

// Lets one message through per interval and counts the ones held back, so a flood of bad
// packets produces one line every few seconds ("... (37 more suppressed)"), never one per packet.
class RateLimit {
 public:
  explicit RateLimit(milliseconds interval = milliseconds(10000)) noexcept : interval_(interval) {}

  // True if a line may be written now; suffix() then tells how many were held back since.
  bool allow(TimePoint now) noexcept;
  // "" or " (N similar messages suppressed)", for the line allow() just let through.
  const char* suffix() const noexcept { return suffix_; }

 private:
  milliseconds interval_;
  TimePoint next_{};
  std::uint64_t held_ = 0;
  bool first_ = true;
  char suffix_[64] = "";
};

}  // namespace udpx

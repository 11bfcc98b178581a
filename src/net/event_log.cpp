// libevent's log callback: its severities mapped to LogLevel, each severity rate-limited.
#include "net/event_log.h"

#include <event2/event.h>

#include "base/clock.h"
#include "base/log.h"

namespace udpx {
namespace {

RateLimit g_limits[4];

void onLibeventLog(int severity, const char* msg) noexcept {
  LogLevel level = LogLevel::Debug;
  int slot = 0;
  switch (severity) {
    case EVENT_LOG_ERR: level = LogLevel::Error; slot = 3; break;
    case EVENT_LOG_WARN: level = LogLevel::Warn; slot = 2; break;
    case EVENT_LOG_MSG: level = LogLevel::Info; slot = 1; break;
    default: break;
  }
  if (!logEnabled(level)) return;
  RateLimit& limit = g_limits[slot];
  if (!limit.allow(Clock::now())) return;
  logMessage(level, "libevent: %s%s", msg != nullptr ? msg : "", limit.suffix());
}

}  // namespace

void routeLibeventLogs() noexcept { event_set_log_callback(&onLibeventLog); }

}  // namespace udpx

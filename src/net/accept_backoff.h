// What a listening stream socket does when accept() fails for want of a resource (EMFILE,
// ENFILE, ENOBUFS, ENOMEM): stop watching it for a while and try again on a timer, as nginx
// does. Without this, a level-triggered listener with a pending connection wakes the loop again
// at once, forever: 100% CPU and, with a log line per failure, a flooded log.
#pragma once

#include <event2/event.h>

#include <functional>

#include "base/clock.h"
#include "base/log.h"
#include "net/event_ptr.h"

namespace udpx {

class AcceptBackoff {
 public:
  // How long the listener rests after a failed accept.
  static constexpr milliseconds kPause{1000};

  // `pause` stops watching the listener, `resume` watches it again; `what` names it in the log
  // ("the metrics endpoint").
  AcceptBackoff(event_base* base, const char* what, std::function<void()> pause, std::function<void()> resume);

  // True when `err` (accept's errno) is a shortage worth pausing for (and not EAGAIN, EINTR,
  // ECONNABORTED, which are retried at the next readiness).
  static bool isShortage(int err) noexcept;

  // Pauses the listener for kPause and logs why (rate-limited).
  void pauseAfter(int err) noexcept;
  bool paused() const noexcept { return paused_; }

 private:
  static void onTimer(evutil_socket_t, short, void* arg) noexcept;

  const char* what_;
  std::function<void()> pause_, resume_;
  EventPtr timer_;
  RateLimit log_;
  bool paused_ = false;
};

}  // namespace udpx

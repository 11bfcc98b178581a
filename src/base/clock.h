// The one clock of the data path: monotonic, read once per loop wake-up and passed down; and
// the wall clock, only for the times people read ("since", "resolved at").
#pragma once

#include <time.h>

#include <chrono>
#include <cstdint>

namespace udpx {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using std::chrono::milliseconds;

// Wall-clock milliseconds since the epoch, for "since" fields people read. Never for timing:
// the wall clock jumps when it is set.
inline std::int64_t unixMillisNow() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Wall-clock nanoseconds since the epoch, for timestamps a protocol puts on the wire (an NTP
// kiss-o'-death's receive and transmit times).
inline std::int64_t unixNanosNow() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace udpx

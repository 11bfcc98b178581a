// The one clock of the data path: monotonic, read once per loop wake-up and passed down.
#pragma once

#include <chrono>

namespace udpx {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using std::chrono::milliseconds;

}  // namespace udpx

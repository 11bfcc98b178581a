// HealthState: the rise/fall state machine of one server. `fall` consecutive failures take an
// up server down, `rise` consecutive successes bring a down server back; definitive signals
// (ICMP port unreachable, NTP kiss-o'-death DENY) take it down at once. Time is passed in.
#pragma once

#include <cstdint>

#include "base/clock.h"

namespace udpx {

class HealthState {
 public:
  enum class Change : std::uint8_t { None, WentUp, WentDown };

  HealthState(std::uint32_t rise, std::uint32_t fall, bool up, TimePoint now) noexcept
      : rise_(rise == 0 ? 1 : rise), fall_(fall == 0 ? 1 : fall), up_(up), since_(now) {}

  Change success(TimePoint now) noexcept {
    failures_ = 0;
    if (up_) return Change::None;
    if (++successes_ < rise_) return Change::None;
    return become(true, now);
  }

  Change failure(TimePoint now) noexcept {
    successes_ = 0;
    if (failures_ < UINT32_MAX) ++failures_;
    if (!up_ && failures_ > 0) return Change::None;
    return failures_ >= fall_ ? become(false, now) : Change::None;
  }

  // A definitive failure: down now, whatever `fall` says.
  Change forceDown(TimePoint now) noexcept {
    successes_ = 0;
    if (failures_ < UINT32_MAX) ++failures_;
    return up_ ? become(false, now) : Change::None;
  }

  // Up now, whatever `rise` says (passive checks: tried again after fail_timeout).
  Change forceUp(TimePoint now) noexcept {
    failures_ = 0;
    return up_ ? Change::None : become(true, now);
  }

  bool up() const noexcept { return up_; }
  TimePoint since() const noexcept { return since_; }      // when `up` last changed
  std::uint32_t failures() const noexcept { return failures_; }    // consecutive, up or down
  std::uint32_t successes() const noexcept { return successes_; }  // consecutive while down
  std::uint32_t rise() const noexcept { return rise_; }
  std::uint32_t fall() const noexcept { return fall_; }

 private:
  Change become(bool up, TimePoint now) noexcept {
    up_ = up;
    since_ = now;
    successes_ = 0;
    return up ? Change::WentUp : Change::WentDown;
  }

  std::uint32_t rise_;
  std::uint32_t fall_;
  bool up_;
  TimePoint since_;
  std::uint32_t successes_ = 0;
  std::uint32_t failures_ = 0;
};

}  // namespace udpx

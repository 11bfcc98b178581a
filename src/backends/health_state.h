// HealthState: the rise/fall state machine of one server. `fall` consecutive failures take an
// up server down, `rise` consecutive successes bring a down server back; definitive signals
// (ICMP port unreachable, NTP kiss-o'-death DENY) take it down at once. Time is passed in.
#pragma once

#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "base/clock.h"
#include "net/address.h"

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

// The distinct clients whose requests a server left unanswered since it last replied: passive
// checks (no probes) mark a server down only when many clients go unanswered, never for many
// datagrams from new ports of one client. A client is its address; an IPv6 client its /64, as
// one host may use any number of addresses of its prefix. Room for `capacity` clients is
// reserved up front: add() never allocates.
class SilentClients {
 public:
  explicit SilentClients(std::size_t capacity) { keys_.reserve(capacity); }

  // Notes the client; returns how many distinct clients are noted (at most the capacity).
  std::size_t add(const SockAddr& client) noexcept {
    const Key key = keyOf(client);
    if (std::find(keys_.begin(), keys_.end(), key) == keys_.end() && keys_.size() < keys_.capacity()) {
      keys_.push_back(key);
    }
    return keys_.size();
  }
  void clear() noexcept { keys_.clear(); }
  std::size_t size() const noexcept { return keys_.size(); }

 private:
  struct Key {
    bool v6 = false;
    std::uint64_t bits = 0;  // the IPv4 address, or the IPv6 /64 prefix
    bool operator==(const Key&) const = default;
  };

  static Key keyOf(const SockAddr& a) noexcept {
    if (a.family() == AF_INET) return {false, a.v4().sin_addr.s_addr};
    if (a.family() != AF_INET6) return {};
    const in6_addr& ip = a.v6().sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&ip)) {  // an IPv4 client of a dual-stack socket
      std::uint32_t v4 = 0;
      std::memcpy(&v4, ip.s6_addr + 12, sizeof v4);
      return {false, v4};
    }
    std::uint64_t prefix = 0;
    std::memcpy(&prefix, ip.s6_addr, sizeof prefix);
    return {true, prefix};
  }

  std::vector<Key> keys_;
};

}  // namespace udpx

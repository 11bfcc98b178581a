// RateLimiter: a frontend's token buckets, one per client address and one per client prefix
// (IPv4 /24, IPv6 /56 by default), in two fixed-size tables (open addressing on the key, an LRU
// ring that recycles the least recently seen entry). O(1) per datagram, integer arithmetic, no
// allocation, no log; kept across reloads (only the rates change).
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "config/config.h"

namespace udpx {

// One token bucket's level, in units of 1/60000 token: a rate per minute refills exactly
// `per_minute` units per millisecond, so "20/s" and "7/min" are both whole numbers.
inline constexpr std::uint64_t kTokenUnits = 60000;

// One bucket and the key it belongs to (an address, or a prefix's masked address).
struct Bucket {
  std::array<std::uint8_t, 16> key{};
  std::uint8_t family = 0;  // 0: free; 4 or 6
  std::uint8_t prefix = 0;  // the key's length in bits (32/128 for an address)
  std::uint16_t lru_prev = 0, lru_next = 0;
  std::uint64_t level = 0;     // in kTokenUnits
  std::int64_t refilled_ms = 0;  // when `level` was last brought up to date (steady clock)
  std::uint64_t limited = 0;     // datagrams it refused since it entered the table
  std::int64_t last_limited_ms = 0;
};

// A fixed table of buckets, found by key; full, a new key takes the least recently seen entry.
class BucketTable {
 public:
  explicit BucketTable(std::uint16_t capacity);
  ~BucketTable();
  BucketTable(const BucketTable&) = delete;
  BucketTable& operator=(const BucketTable&) = delete;

  // The bucket of this key, made the most recent; `fresh` is set when it was just made (its
  // level is for the caller to fill).
  Bucket& touch(const Bucket& key, bool& fresh) noexcept;
  // The bucket of this key if it is in the table, without touching it.
  Bucket* find(const Bucket& key) noexcept;
  std::size_t size() const noexcept { return size_; }
  std::uint16_t capacity() const noexcept { return capacity_; }
  template <class F>
  void forEach(F f) const {
    for (std::uint16_t i = 0; i < size_; ++i) f(static_cast<const Bucket&>(records_[i]));
  }
  template <class F>
  void forEach(F f) {
    for (std::uint16_t i = 0; i < size_; ++i) f(records_[i]);
  }

 private:
  static constexpr std::uint32_t kEmpty = 0;  // slots hold index + 1
  std::uint32_t slotOf(const Bucket& k) const noexcept;
  void unlink(std::uint16_t i) noexcept;
  void pushMostRecent(std::uint16_t i) noexcept;
  void eraseSlot(std::uint32_t slot) noexcept;

  std::uint16_t capacity_;
  std::uint32_t slot_mask_;
  unsigned slot_bits_;
  // One anonymous mapping (zero pages are free entries and empty slots as they are): only the
  // pages clients touch become resident.
  void* map_ = nullptr;
  std::size_t map_len_ = 0;
  Bucket* records_ = nullptr;
  std::uint16_t* slots_ = nullptr;
  std::uint16_t size_ = 0;
  std::uint16_t head_ = 0, tail_ = 0;
};

// One entry of the "most rate-limited" list `udpx status` shows.
struct LimitedSource {
  std::string source;  // "192.0.2.7" or "192.0.2.0/24"
  std::uint64_t limited = 0;
  std::int64_t last_limited_ms = 0;  // steady clock, for "how long ago"
};

class RateLimiter {
 public:
  static constexpr std::uint16_t kAddressCapacity = 8192;
  static constexpr std::uint16_t kPrefixCapacity = 2048;

  enum class Verdict : std::uint8_t { Pass, Limited };

  RateLimiter() = default;
  // The rates from the frontend's config (at start and on every reload): buckets keep their
  // level, clamped to a smaller burst. Tables are mapped the first time a limit is on.
  void configure(const RateLimitConfig& cfg);
  bool enabled() const noexcept { return on_; }
  const RateLimitConfig& config() const noexcept { return cfg_; }

  // One datagram from `client` at `now`: takes a token from its address bucket and its prefix
  // bucket, or refuses it (and takes none) when either is empty.
  Verdict admit(const sockaddr* client, TimePoint now) noexcept;
  // A kiss-o'-death may be sent now (its own bucket, per frontend).
  bool allowKiss(TimePoint now) noexcept;

  // The sources refused most (at most `n` addresses and `n` prefixes, most refused first).
  std::vector<LimitedSource> topLimited(std::size_t n, bool prefixes) const;

 private:
  struct Rate {
    std::uint64_t per_minute = 0;  // 0: off
    std::uint64_t capacity = 0;    // burst * kTokenUnits
    std::uint64_t fill_ms = 0;     // an empty bucket is full again after this long (no division per datagram)
  };
  static Rate rateOf(std::uint64_t per_minute, std::uint64_t burst) noexcept {
    return {per_minute, burst * kTokenUnits, per_minute == 0 ? 0 : burst * kTokenUnits / per_minute + 1};
  }
  static void refill(Bucket& b, const Rate& r, std::int64_t now_ms) noexcept;

  RateLimitConfig cfg_;
  bool on_ = false;
  Rate address_, prefix_, kiss_;
  std::unique_ptr<BucketTable> addresses_, prefixes_;
  Bucket kiss_bucket_;
};

}  // namespace udpx

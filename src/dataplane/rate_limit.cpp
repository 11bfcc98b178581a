// RateLimiter: token buckets in two BucketTables (addresses, prefixes) and one for kisses-o'-death.
#include "dataplane/rate_limit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace udpx {
namespace {

std::int64_t millisOf(TimePoint t) noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// The address of a client as a bucket key (an IPv4-mapped IPv6 client is its IPv4 address);
// false for another family.
bool addressKey(const sockaddr* sa, Bucket& k) noexcept {
  k.key = {};
  if (sa->sa_family == AF_INET) {
    std::memcpy(k.key.data(), &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
    k.family = 4;
    k.prefix = 32;
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
      std::memcpy(k.key.data(), a.s6_addr + 12, 4);
      k.family = 4;
      k.prefix = 32;
    } else {
      std::memcpy(k.key.data(), a.s6_addr, 16);
      k.family = 6;
      k.prefix = 128;
    }
    return true;
  }
  return false;
}

// Keeps the first `bits` bits of the key.
void maskKey(Bucket& k, unsigned bits) noexcept {
  const unsigned bytes = k.family == 4 ? 4 : 16;
  for (unsigned i = 0; i < bytes; ++i) {
    const unsigned from = i * 8;
    if (bits >= from + 8) continue;
    k.key[i] = static_cast<std::uint8_t>(bits <= from ? 0 : k.key[i] & (0xff << (8 - (bits - from))));
  }
  k.prefix = static_cast<std::uint8_t>(bits);
}

bool sameKey(const Bucket& a, const Bucket& b) noexcept {
  return a.family == b.family && a.prefix == b.prefix && a.key == b.key;
}

std::string keyText(const Bucket& b) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(b.family == 4 ? AF_INET : AF_INET6, b.key.data(), text, sizeof text);
  std::string s(text);
  if (b.prefix != (b.family == 4 ? 32 : 128)) s += "/" + std::to_string(b.prefix);
  return s;
}

}  // namespace

// ---- BucketTable ----

BucketTable::BucketTable(std::uint16_t capacity) : capacity_(capacity) {
  // At least twice as many slots as entries, a power of two: load at most one half.
  slot_bits_ = 1;
  while ((1u << slot_bits_) < 2u * capacity) ++slot_bits_;
  slot_mask_ = (1u << slot_bits_) - 1;
  const std::size_t records = sizeof(Bucket) * capacity;
  map_len_ = records + sizeof(std::uint16_t) * (slot_mask_ + 1);
  // NOTE: mmap, not new[]: zero pages are free entries and empty slots, and only the pages that
  // clients touch become resident.
  map_ = ::mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map_ == MAP_FAILED) throw std::runtime_error("cannot map the rate-limit table: out of memory");
  records_ = static_cast<Bucket*>(map_);
  slots_ = reinterpret_cast<std::uint16_t*>(static_cast<char*>(map_) + records);
}

BucketTable::~BucketTable() {
  if (map_ != nullptr) ::munmap(map_, map_len_);
}

std::uint32_t BucketTable::slotOf(const Bucket& k) const noexcept {
  std::uint64_t a0, a1;
  std::memcpy(&a0, k.key.data(), 8);
  std::memcpy(&a1, k.key.data() + 8, 8);
  std::uint64_t h = a0 * 0x9e3779b97f4a7c15ull ^ a1 * 0xc2b2ae3d27d4eb4full ^
                    (std::uint64_t{k.prefix} << 8 | k.family) * 0x165667b19e3779f9ull;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  return static_cast<std::uint32_t>(h >> (64 - slot_bits_));
}

Bucket* BucketTable::find(const Bucket& k) noexcept {
  for (std::uint32_t s = slotOf(k);; s = (s + 1) & slot_mask_) {
    const std::uint16_t i = slots_[s];
    if (i == kEmpty) return nullptr;
    if (sameKey(records_[i - 1], k)) return &records_[i - 1];
  }
}

void BucketTable::unlink(std::uint16_t i) noexcept {
  Bucket& r = records_[i];
  if (size_ == 1) return;
  if (i == head_) head_ = r.lru_prev;
  if (i == tail_) tail_ = r.lru_next;
  records_[r.lru_prev].lru_next = r.lru_next;
  records_[r.lru_next].lru_prev = r.lru_prev;
}

// The ring: lru_prev is the less recent neighbour, lru_next the more recent; head_ the most recent.
void BucketTable::pushMostRecent(std::uint16_t i) noexcept {
  Bucket& r = records_[i];
  if (size_ == 1) {
    r.lru_prev = r.lru_next = i;
    head_ = tail_ = i;
    return;
  }
  r.lru_prev = head_;
  r.lru_next = tail_;
  records_[head_].lru_next = i;
  records_[tail_].lru_prev = i;
  head_ = i;
}

void BucketTable::eraseSlot(std::uint32_t slot) noexcept {
  // Backward-shift deletion keeps every probe run unbroken.
  std::uint32_t hole = slot;
  for (std::uint32_t s = (slot + 1) & slot_mask_;; s = (s + 1) & slot_mask_) {
    const std::uint16_t i = slots_[s];
    if (i == kEmpty) break;
    const std::uint32_t home = slotOf(records_[i - 1]);
    const bool stays = hole <= s ? (home > hole && home <= s) : (home > hole || home <= s);
    if (!stays) {
      slots_[hole] = i;
      hole = s;
    }
  }
  slots_[hole] = kEmpty;
}

Bucket& BucketTable::touch(const Bucket& k, bool& fresh) noexcept {
  std::uint32_t s = slotOf(k);
  for (;; s = (s + 1) & slot_mask_) {
    const std::uint16_t i = slots_[s];
    if (i == kEmpty) break;
    if (sameKey(records_[i - 1], k)) {
      const auto at = static_cast<std::uint16_t>(i - 1);
      if (at != head_) {
        unlink(at);
        pushMostRecent(at);
      }
      fresh = false;
      return records_[at];
    }
  }
  std::uint16_t at;
  if (size_ < capacity_) {
    at = size_++;
  } else {
    // Full: the least recently seen key gives up its entry.
    at = tail_;
    std::uint32_t os = slotOf(records_[at]);
    while (slots_[os] != at + 1) os = (os + 1) & slot_mask_;
    eraseSlot(os);
    unlink(at);
    for (s = slotOf(k); slots_[s] != kEmpty; s = (s + 1) & slot_mask_) {
    }
  }
  Bucket& r = records_[at];
  r = Bucket{};
  r.key = k.key;
  r.family = k.family;
  r.prefix = k.prefix;
  slots_[s] = static_cast<std::uint16_t>(at + 1);
  pushMostRecent(at);
  fresh = true;
  return r;
}

// ---- RateLimiter ----

void RateLimiter::configure(const RateLimitConfig& cfg) {
  cfg_ = cfg;
  address_ = rateOf(cfg.per_minute, cfg.burst);
  prefix_ = rateOf(cfg.prefix_per_minute, cfg.prefix_burst);
  // Kisses-o'-death: at most 10 a second, 20 at once, whatever the clients do.
  const bool kiss_was_on = kiss_.per_minute != 0;
  kiss_ = rateOf(cfg.kod ? 600 : 0, 20);
  if (!kiss_was_on) kiss_bucket_.level = kiss_.capacity;
  on_ = address_.per_minute != 0 || prefix_.per_minute != 0;
  if (address_.per_minute != 0 && !addresses_) addresses_ = std::make_unique<BucketTable>(kAddressCapacity);
  if (prefix_.per_minute != 0 && !prefixes_) prefixes_ = std::make_unique<BucketTable>(kPrefixCapacity);
  // A smaller burst applies at once; a larger one fills as the rate allows.
  const auto clamp = [](BucketTable* t, const Rate& r) {
    if (t == nullptr) return;
    t->forEach([&](Bucket& b) { b.level = std::min(b.level, r.capacity); });
  };
  clamp(addresses_.get(), address_);
  clamp(prefixes_.get(), prefix_);
  kiss_bucket_.level = std::min(kiss_bucket_.level, kiss_.capacity);
}

void RateLimiter::refill(Bucket& b, const Rate& r, std::int64_t now_ms) noexcept {
  if (now_ms <= b.refilled_ms) return;
  const auto elapsed = static_cast<std::uint64_t>(now_ms - b.refilled_ms);
  b.refilled_ms = now_ms;
  // Long idle: full (and no product that could overflow).
  if (elapsed >= r.fill_ms) {
    b.level = r.capacity;
    return;
  }
  b.level = std::min(r.capacity, b.level + elapsed * r.per_minute);
}

RateLimiter::Verdict RateLimiter::admit(const sockaddr* client, TimePoint now) noexcept {
  if (!on_) return Verdict::Pass;
  Bucket key;
  if (!addressKey(client, key)) return Verdict::Pass;
  const std::int64_t now_ms = millisOf(now);
  Bucket* a = nullptr;
  if (address_.per_minute != 0) {
    bool fresh = false;
    a = &addresses_->touch(key, fresh);
    if (fresh) {
      a->level = address_.capacity;
      a->refilled_ms = now_ms;
    } else {
      refill(*a, address_, now_ms);
    }
    if (a->level < kTokenUnits) {
      ++a->limited;
      a->last_limited_ms = now_ms;
      return Verdict::Limited;
    }
  }
  Bucket* p = nullptr;
  if (prefix_.per_minute != 0) {
    maskKey(key, key.family == 4 ? cfg_.prefix_v4 : cfg_.prefix_v6);
    bool fresh = false;
    p = &prefixes_->touch(key, fresh);
    if (fresh) {
      p->level = prefix_.capacity;
      p->refilled_ms = now_ms;
    } else {
      refill(*p, prefix_, now_ms);
    }
    if (p->level < kTokenUnits) {
      ++p->limited;
      p->last_limited_ms = now_ms;
      return Verdict::Limited;
    }
    p->level -= kTokenUnits;
  }
  if (a != nullptr) a->level -= kTokenUnits;
  return Verdict::Pass;
}

bool RateLimiter::allowKiss(TimePoint now) noexcept {
  if (kiss_.per_minute == 0) return false;
  refill(kiss_bucket_, kiss_, millisOf(now));
  if (kiss_bucket_.level < kTokenUnits) return false;
  kiss_bucket_.level -= kTokenUnits;
  return true;
}

std::vector<LimitedSource> RateLimiter::topLimited(std::size_t n, bool prefixes) const {
  const BucketTable* t = prefixes ? prefixes_.get() : addresses_.get();
  std::vector<const Bucket*> hits;
  if (t != nullptr) {
    t->forEach([&](const Bucket& b) {
      if (b.limited > 0) hits.push_back(&b);
    });
  }
  const std::size_t k = std::min(n, hits.size());
  std::partial_sort(hits.begin(), hits.begin() + static_cast<std::ptrdiff_t>(k), hits.end(),
                    [](const Bucket* x, const Bucket* y) { return x->limited > y->limited; });
  std::vector<LimitedSource> out;
  for (std::size_t i = 0; i < k; ++i) out.push_back({keyText(*hits[i]), hits[i]->limited, hits[i]->last_limited_ms});
  return out;
}

}  // namespace udpx

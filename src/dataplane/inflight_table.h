// InflightTable: the requests sent through shared upstream sockets and not yet expired, keyed by
// (pool socket, token upstream), some also by a second key (a long NTP request's receive
// timestamp, which interleaved replies echo). Fixed size, open addressing, a free list; no
// allocation per request. Each frontend's lane keeps its entries in sending order, so expiry
// and eviction look only at the oldest.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <vector>

#include "base/clock.h"
#include "dataplane/session.h"
#include "net/address.h"
#include "protocols/protocol.h"

namespace udpx {

class Listener;

enum class InflightEnd : std::uint8_t {
  Expired,   // pending until its lane's timeout: unanswered
  Evicted,   // pending, removed for a newer request at the lane's cap or the table's size
  Shutdown,  // its frontend or the whole data path goes
};

class InflightTable {
 public:
  static constexpr std::uint32_t kNone = UINT32_MAX;

  enum class State : std::uint8_t { Free, Pending, Answered };
  struct Entry {
    Token key = 0;  // the token upstream; the hash key with `socket`
    Token original = 0;
    Token original_alt = 0;
    std::uint8_t token_flags = 0;  // SharedToken::flags
    State state = State::Free;
    std::uint16_t request_len = 0;
    std::uint32_t socket = 0;  // the pool socket it went out through
    std::uint32_t lane = 0;
    std::uint32_t prev = kNone, next = kNone;  // the lane's pending or answered list; next: free list
    bool second = false;  // original_alt is a key too (indexSecond); in what was padding
    TimePoint sent{};
    SockAddr client;
    LocalAddr local;  // the address the client sent to: the reply leaves from it
    Listener* listener = nullptr;

    SharedToken token() const noexcept { return {key, original, original_alt, token_flags}; }
  };

  // Told of every pending entry that ends without its reply (before it is freed).
  using EndFn = void (*)(void* ctx, Entry& e, InflightEnd why) noexcept;

  // `capacity` entries at most; `seed` keys the hash (tokens of long NTP requests are chosen
  // by clients).
  InflightTable(std::uint32_t capacity, std::uint64_t seed, EndFn on_end, void* ctx);
  InflightTable(const InflightTable&) = delete;
  InflightTable& operator=(const InflightTable&) = delete;

  // A frontend's lane (the same number as its SessionTable lane): its timeout and cap.
  void setLane(std::uint32_t lane, std::chrono::milliseconds timeout, std::uint32_t cap);
  // Raises the capacity to `capacity` (never lowers it), keeping every entry in flight.
  // Allocates: for reloads only, never per datagram.
  void grow(std::uint32_t capacity);

  // The entry (pending or answered) for `key` on `socket`, or kNone: `key` is its key or its
  // second key (then at(i).key != key).
  std::uint32_t find(std::uint32_t socket, Token key) const noexcept;
  // A new pending entry for a key find() did not know; evicts the lane's (or the table's)
  // oldest entry when full, answered ones first. Fields other than the key are the caller's to
  // fill. Never fails once a lane's cap and the capacity are at least 1.
  std::uint32_t insert(std::uint32_t lane, std::uint32_t socket, Token key, TimePoint now) noexcept;
  Entry& at(std::uint32_t i) noexcept { return *std::launder(reinterpret_cast<Entry*>(entries_[i].bytes)); }
  const Entry& at(std::uint32_t i) const noexcept {
    return *std::launder(reinterpret_cast<const Entry*>(entries_[i].bytes));
  }
  // Makes `second` (stored as original_alt) a key of entry `i` too, found like its key until
  // the entry ends. False, and nothing changed, if find() already knows `second` on its socket,
  // or if second keys fill a quarter of the index (with the keys' half at most, probes stay
  // short: never more than three quarters full).
  bool indexSecond(std::uint32_t i, Token second) noexcept;
  // Its reply came: kept (as answered) until the timeout, so an extra reply is recognised —
  // the lane's last kKeptAnswered answered entries at most: more would only grow the working
  // set the reply path looks up in (at 90,000 requests/s a 5 s timeout would keep 450,000,
  // and every lookup would miss the cache), for a second reply that comes within moments if
  // at all. An older one's extra reply counts as unmatched instead (dropped either way).
  static constexpr std::uint32_t kKeptAnswered = 256;
  void answer(std::uint32_t i) noexcept;
  // Frees an entry without telling (the send failed).
  void erase(std::uint32_t i) noexcept;

  // Ends pending entries past their lane's timeout (told as Expired) and frees answered ones.
  // Returns the next deadline, if any entry remains.
  std::optional<TimePoint> expire(TimePoint now) noexcept;
  // Ends every entry of `lane` (pending ones told as `why`).
  void clearLane(std::uint32_t lane, InflightEnd why) noexcept;
  // Ends the entries for which pred(const Entry&) holds (pending ones told as `why`).
  template <typename Pred>
  std::size_t removeIf(Pred pred, InflightEnd why) noexcept {
    std::size_t n = 0;
    for (std::uint32_t i = 0; i < used_; ++i) {
      if (at(i).state != State::Free && pred(static_cast<const Entry&>(at(i)))) {
        end(i, why);
        ++n;
      }
    }
    return n;
  }

  std::uint32_t size() const noexcept { return size_; }
  std::uint32_t pending() const noexcept { return pending_; }
  std::uint32_t capacity() const noexcept { return capacity_; }
  std::uint32_t seconds() const noexcept { return seconds_; }  // entries with a second key
  std::uint32_t lanePending(std::uint32_t lane) const noexcept {
    return lane < lanes_.size() ? lanes_[lane].pending.count : 0;
  }
  // Bytes held per entry: the entry and its share of the hash index (second keys share it too).
  static constexpr std::size_t kBytesPerEntry = sizeof(Entry) + 2 * sizeof(std::uint32_t);

 private:
  struct List {
    std::uint32_t head = kNone, tail = kNone, count = 0;
  };
  struct Lane {
    std::chrono::milliseconds timeout{0};
    std::uint32_t cap = 0;
    List pending, answered;
  };
  // An index slot holds (entry << 1) | 1 for its second key, (entry << 1) for its key.
  static constexpr std::uint32_t slotOf(std::uint32_t i, bool second) noexcept { return i << 1 | (second ? 1u : 0u); }
  Token keyOf(std::uint32_t slot) const noexcept {
    const Entry& e = at(slot >> 1);
    return (slot & 1) != 0 ? e.original_alt : e.key;
  }
  std::size_t home(std::uint32_t socket, Token key) const noexcept;
  void place(std::uint32_t slot) noexcept;
  void unplace(std::uint32_t slot) noexcept;
  void link(List& l, std::uint32_t i) noexcept;
  void unlink(List& l, std::uint32_t i) noexcept;
  List& listOf(const Entry& e) noexcept {
    Lane& l = lanes_[e.lane];
    return e.state == State::Pending ? l.pending : l.answered;
  }
  void unindex(std::uint32_t i) noexcept;
  // Tells (pending only) and frees.
  void end(std::uint32_t i, InflightEnd why) noexcept;
  // Frees the oldest entry of `lane` (answered first); false if it has none.
  bool evictFrom(std::uint32_t lane) noexcept;

  std::uint32_t capacity_;
  std::uint64_t seed_;
  EndFn on_end_;
  void* ctx_;
  // NOTE: raw storage, constructed on first use: the pages of entries never used stay
  // untouched (not resident), so a large capacity costs only what traffic uses.
  struct alignas(Entry) Slot {
    unsigned char bytes[sizeof(Entry)];
  };
  std::unique_ptr<Slot[]> entries_;
  std::uint32_t used_ = 0;  // entries_[0, used_) have been handed out at least once
  std::uint32_t free_ = kNone;
  std::vector<std::uint32_t> index_;  // slotOf(entry, which key) or kNone; a power of two >= 2 * capacity
  std::size_t mask_;
  std::vector<Lane> lanes_;
  std::uint32_t size_ = 0, pending_ = 0, seconds_ = 0;
};

}  // namespace udpx

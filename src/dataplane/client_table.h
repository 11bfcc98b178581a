// ClientTable: a frontend's most recent clients (at most kCapacity) and what each got — for
// `udpx status --clients` and /status. Fixed memory, mapped once when the frontend is built and
// made resident only as clients arrive; O(1) per datagram (open addressing with linear probing
// on the address, an LRU ring through the entries); no allocation, no log.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/clock.h"
#include "dataplane/stats.h"
#include "net/address.h"

namespace udpx {

struct ClientRecord {
  // The client's address as the key: IPv6 or IPv4 bytes, port, family.
  std::array<std::uint8_t, 16> addr{};
  std::uint16_t port = 0;
  std::uint8_t family = 0;  // 0: a free entry
  std::uint16_t lru_prev = 0, lru_next = 0;
  std::uint64_t requests = 0;    // datagrams received from it (all, dropped ones too)
  std::uint64_t answers = 0;     // replies delivered to it
  std::uint64_t unanswered = 0;  // requests forwarded whose session ended without their reply
  std::array<std::uint32_t, kDropCount> dropped{};  // its datagrams (and replies to it) dropped, by reason
  TimePoint last_seen{};

  SockAddr address() const noexcept;
  void drop(Drop d) noexcept {
    std::uint32_t& n = dropped[static_cast<std::size_t>(d)];
    if (n != UINT32_MAX) ++n;
  }
};

class ClientTable {
 public:
  static constexpr std::uint16_t kCapacity = 1000;

  ClientTable();
  ~ClientTable();
  ClientTable(const ClientTable&) = delete;
  ClientTable& operator=(const ClientTable&) = delete;

  // The client's record, made the most recent; a new client takes a free entry or the least
  // recent one's. nullptr only for an address that is neither IPv4 nor IPv6.
  ClientRecord* touch(const sockaddr* sa, TimePoint now) noexcept;
  ClientRecord* touch(const SockAddr& a, TimePoint now) noexcept { return touch(a.get(), now); }
  // The client's record if it is still in the table (nullptr: never seen, or pushed out).
  ClientRecord* find(const sockaddr* sa) noexcept;
  ClientRecord* find(const SockAddr& a) noexcept { return find(a.get()); }
  // Counts a dropped datagram of (or reply to) a client still in the table.
  void drop(const SockAddr& a, Drop d) noexcept {
    if (ClientRecord* c = find(a)) c->drop(d);
  }

  std::size_t size() const noexcept { return size_; }
  // Visits the records from the most recent: f(const ClientRecord&) returns false to stop.
  template <class F>
  void forEachRecent(F f) const {
    for (std::uint16_t i = head_, n = 0; n < size_; i = records_[i].lru_prev, ++n) {
      if (!f(records_[i])) return;
    }
  }
  // The least recent record's last_seen (the table's memory), when it is full.
  const ClientRecord* leastRecent() const noexcept { return size_ == 0 ? nullptr : &records_[tail_]; }

 private:
  static constexpr std::uint16_t kSlots = 2048;  // a power of two, load at most 0.49
  static constexpr std::uint16_t kEmpty = 0xffff;

  std::uint16_t slotOf(const ClientRecord& key) const noexcept;
  std::uint16_t lookup(const ClientRecord& key) const noexcept;  // the record index, or kEmpty
  void unlink(std::uint16_t i) noexcept;
  void pushMostRecent(std::uint16_t i) noexcept;
  void eraseSlot(std::uint16_t slot) noexcept;

  // One anonymous mapping: the records, then the slots (record indices, kEmpty when free).
  void* map_ = nullptr;
  std::size_t map_len_ = 0;
  ClientRecord* records_ = nullptr;
  std::uint16_t* slots_ = nullptr;
  std::uint16_t size_ = 0;
  std::uint16_t head_ = 0;  // most recent
  std::uint16_t tail_ = 0;  // least recent
};

}  // namespace udpx

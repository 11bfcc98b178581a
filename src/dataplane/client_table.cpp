// ClientTable: open addressing on the client address, an LRU ring by index.
#include "dataplane/client_table.h"

#include <netinet/in.h>
#include <sys/mman.h>

#include <cstring>
#include <new>
#include <stdexcept>

namespace udpx {
namespace {

// Fills the key fields of `k` from a kernel address; false for another family.
bool keyOf(const sockaddr* sa, ClientRecord& k) noexcept {
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    k.addr = {};
    std::memcpy(k.addr.data(), &in->sin_addr, 4);
    k.port = in->sin_port;
    k.family = 4;
    return true;
  }
  if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::memcpy(k.addr.data(), &in6->sin6_addr, 16);
    k.port = in6->sin6_port;
    k.family = 6;
    return true;
  }
  return false;
}

bool sameKey(const ClientRecord& a, const ClientRecord& b) noexcept {
  return a.family == b.family && a.port == b.port && a.addr == b.addr;
}

}  // namespace

SockAddr ClientRecord::address() const noexcept {
  if (family == 4) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    std::memcpy(&in.sin_addr, addr.data(), 4);
    in.sin_port = port;
    return SockAddr(reinterpret_cast<const sockaddr*>(&in), sizeof in);
  }
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  std::memcpy(&in6.sin6_addr, addr.data(), 16);
  in6.sin6_port = port;
  return SockAddr(reinterpret_cast<const sockaddr*>(&in6), sizeof in6);
}

ClientTable::ClientTable() {
  const std::size_t records = sizeof(ClientRecord) * kCapacity;
  map_len_ = records + sizeof(std::uint16_t) * kSlots;
  // NOTE: mmap, not new[]: pages become resident only when clients fill them, so an idle
  // frontend costs the slots' 4 KiB, not the whole table.
  map_ = ::mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map_ == MAP_FAILED) throw std::runtime_error("cannot map the recent-clients table: out of memory");
  // Zero pages are valid records (family 0: free) as they are; only the slots are set.
  records_ = static_cast<ClientRecord*>(map_);
  slots_ = reinterpret_cast<std::uint16_t*>(static_cast<char*>(map_) + records);
  std::memset(slots_, 0xff, sizeof(std::uint16_t) * kSlots);
}

ClientTable::~ClientTable() {
  if (map_ != nullptr) ::munmap(map_, map_len_);
}

std::uint16_t ClientTable::slotOf(const ClientRecord& k) const noexcept {
  // FNV-1a over the key: cheap and good enough; spoofed floods only churn the LRU.
  std::uint32_t h = 2166136261u;
  for (std::uint8_t b : k.addr) h = (h ^ b) * 16777619u;
  h = (h ^ (k.port & 0xff)) * 16777619u;
  h = (h ^ (k.port >> 8)) * 16777619u;
  h = (h ^ k.family) * 16777619u;
  return static_cast<std::uint16_t>(h & (kSlots - 1));
}

std::uint16_t ClientTable::lookup(const ClientRecord& k) const noexcept {
  for (std::uint16_t s = slotOf(k);; s = (s + 1) & (kSlots - 1)) {
    const std::uint16_t i = slots_[s];
    if (i == kEmpty) return kEmpty;
    if (sameKey(records_[i], k)) return i;
  }
}

ClientRecord* ClientTable::find(const sockaddr* sa) noexcept {
  ClientRecord k;
  if (!keyOf(sa, k)) return nullptr;
  const std::uint16_t i = lookup(k);
  return i == kEmpty ? nullptr : &records_[i];
}

void ClientTable::unlink(std::uint16_t i) noexcept {
  ClientRecord& r = records_[i];
  if (size_ == 1) return;
  if (i == head_) head_ = r.lru_prev;
  if (i == tail_) tail_ = r.lru_next;
  records_[r.lru_prev].lru_next = r.lru_next;
  records_[r.lru_next].lru_prev = r.lru_prev;
}

// The ring: lru_prev points to the less recent neighbour, lru_next to the more recent one;
// head_'s lru_next is tail_.
void ClientTable::pushMostRecent(std::uint16_t i) noexcept {
  ClientRecord& r = records_[i];
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

void ClientTable::eraseSlot(std::uint16_t slot) noexcept {
  // Backward-shift deletion: later entries of the probe run move up, so lookups still stop
  // only at a truly empty slot.
  std::uint16_t hole = slot;
  for (std::uint16_t s = (slot + 1) & (kSlots - 1);; s = (s + 1) & (kSlots - 1)) {
    const std::uint16_t i = slots_[s];
    if (i == kEmpty) break;
    const std::uint16_t home = slotOf(records_[i]);
    // Moves if its home is not in (hole, s] cyclically.
    const bool stays = hole <= s ? (home > hole && home <= s) : (home > hole || home <= s);
    if (!stays) {
      slots_[hole] = i;
      hole = s;
    }
  }
  slots_[hole] = kEmpty;
}

ClientRecord* ClientTable::touch(const sockaddr* sa, TimePoint now) noexcept {
  ClientRecord k;
  if (!keyOf(sa, k)) return nullptr;
  std::uint16_t s = slotOf(k);
  for (;; s = (s + 1) & (kSlots - 1)) {
    const std::uint16_t i = slots_[s];
    if (i == kEmpty) break;
    if (sameKey(records_[i], k)) {
      if (i != head_) {
        unlink(i);
        pushMostRecent(i);
      }
      records_[i].last_seen = now;
      return &records_[i];
    }
  }
  std::uint16_t i;
  if (size_ < kCapacity) {
    i = size_++;
  } else {
    // Full: the least recent client makes room.
    i = tail_;
    ClientRecord& old = records_[i];
    std::uint16_t os = slotOf(old);
    while (slots_[os] != i) os = (os + 1) & (kSlots - 1);
    eraseSlot(os);
    unlink(i);
    // Its slot may have moved the probe run this client's search ended in: search again.
    for (s = slotOf(k); slots_[s] != kEmpty; s = (s + 1) & (kSlots - 1)) {
    }
  }
  ClientRecord& r = records_[i];
  r = k;
  r.last_seen = now;
  slots_[s] = i;
  pushMostRecent(i);
  return &r;
}

}  // namespace udpx

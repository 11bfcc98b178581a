// The in-flight table of shared upstream sockets: open addressing with linear probing and
// backward-shift deletion (no tombstones), one index for keys and second keys, per-lane lists
// in sending order.
#include "dataplane/inflight_table.h"

#include <bit>
#include <cstring>
#include <type_traits>

namespace udpx {

static_assert(std::is_trivially_destructible_v<InflightTable::Entry>, "entries are reused without destruction");
static_assert(std::is_trivially_copyable_v<InflightTable::Entry>, "grow() copies entries as bytes");

InflightTable::InflightTable(std::uint32_t capacity, std::uint64_t seed, EndFn on_end, void* ctx)
    : capacity_(capacity < 1 ? 1 : capacity),
      seed_(seed),
      on_end_(on_end),
      ctx_(ctx),
      entries_(std::make_unique_for_overwrite<Slot[]>(capacity_)),
      index_(std::bit_ceil(std::size_t{capacity_} * 2), kNone),
      mask_(index_.size() - 1) {}

void InflightTable::setLane(std::uint32_t lane, std::chrono::milliseconds timeout, std::uint32_t cap) {
  if (lane >= lanes_.size()) lanes_.resize(lane + 1);
  lanes_[lane].timeout = timeout;
  lanes_[lane].cap = cap < 1 ? 1 : cap;
}

void InflightTable::grow(std::uint32_t capacity) {
  if (capacity <= capacity_) return;
  auto entries = std::make_unique_for_overwrite<Slot[]>(capacity);
  if (used_ > 0) std::memcpy(entries.get(), entries_.get(), sizeof(Slot) * used_);
  entries_ = std::move(entries);
  capacity_ = capacity;
  // Entry numbers stay; only the index is rebuilt for its new size.
  std::vector<std::uint32_t> index(std::bit_ceil(std::size_t{capacity_} * 2), kNone);
  index_.swap(index);
  mask_ = index_.size() - 1;
  for (std::uint32_t i = 0; i < used_; ++i) {
    const Entry& e = at(i);
    if (e.state == State::Free) continue;
    place(slotOf(i, false));
    if (e.second) place(slotOf(i, true));
  }
}

std::size_t InflightTable::home(std::uint32_t socket, Token key) const noexcept {
  std::uint64_t h = (key ^ seed_) + 0x9e3779b97f4a7c15ULL * (std::uint64_t{socket} + 1);
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return static_cast<std::size_t>(h ^ (h >> 31)) & mask_;
}

std::uint32_t InflightTable::find(std::uint32_t socket, Token key) const noexcept {
  for (std::size_t b = home(socket, key);; b = (b + 1) & mask_) {
    const std::uint32_t slot = index_[b];
    if (slot == kNone) return kNone;
    if (keyOf(slot) == key && at(slot >> 1).socket == socket) return slot >> 1;
  }
}

void InflightTable::place(std::uint32_t slot) noexcept {
  std::size_t b = home(at(slot >> 1).socket, keyOf(slot));
  while (index_[b] != kNone) b = (b + 1) & mask_;
  index_[b] = slot;
}

bool InflightTable::indexSecond(std::uint32_t i, Token second) noexcept {
  Entry& e = at(i);
  if (e.state == State::Free || e.second || seconds_ >= index_.size() / 4) return false;
  if (find(e.socket, second) != kNone) return false;
  e.original_alt = second;
  e.second = true;
  place(slotOf(i, true));
  ++seconds_;
  return true;
}

void InflightTable::link(List& l, std::uint32_t i) noexcept {
  Entry& e = at(i);
  e.prev = l.tail;
  e.next = kNone;
  if (l.tail != kNone) {
    at(l.tail).next = i;
  } else {
    l.head = i;
  }
  l.tail = i;
  ++l.count;
}

void InflightTable::unlink(List& l, std::uint32_t i) noexcept {
  Entry& e = at(i);
  if (e.prev != kNone) {
    at(e.prev).next = e.next;
  } else {
    l.head = e.next;
  }
  if (e.next != kNone) {
    at(e.next).prev = e.prev;
  } else {
    l.tail = e.prev;
  }
  --l.count;
}

std::uint32_t InflightTable::insert(std::uint32_t lane, std::uint32_t socket, Token key, TimePoint now) noexcept {
  Lane& ln = lanes_[lane];
  if (ln.pending.count + ln.answered.count >= ln.cap) evictFrom(lane);
  if (size_ >= capacity_) {
    // The whole table is full: the oldest answered entry anywhere, else this lane's oldest,
    // else the lane whose oldest request is the oldest.
    bool done = false;
    for (std::uint32_t k = 0; k < lanes_.size() && !done; ++k) {
      if (lanes_[k].answered.head != kNone) done = evictFrom(k);
    }
    if (!done) done = evictFrom(lane);
    if (!done) {
      std::uint32_t best = kNone;
      for (std::uint32_t k = 0; k < lanes_.size(); ++k) {
        const std::uint32_t h = lanes_[k].pending.head;
        if (h != kNone && (best == kNone || at(h).sent < at(lanes_[best].pending.head).sent)) best = k;
      }
      if (best != kNone) evictFrom(best);
    }
  }
  std::uint32_t i;
  if (free_ != kNone) {
    i = free_;
    free_ = at(i).next;
  } else {
    i = used_++;
    new (entries_[i].bytes) Entry();
  }
  Entry& e = at(i);
  e = Entry();
  e.key = key;
  e.socket = socket;
  e.lane = lane;
  e.sent = now;
  e.state = State::Pending;
  place(slotOf(i, false));
  link(ln.pending, i);
  ++size_;
  ++pending_;
  return i;
}

void InflightTable::answer(std::uint32_t i) noexcept {
  Entry& e = at(i);
  if (e.state != State::Pending) return;
  Lane& ln = lanes_[e.lane];
  unlink(ln.pending, i);
  e.state = State::Answered;
  link(ln.answered, i);
  --pending_;
  if (ln.answered.count > kKeptAnswered) erase(ln.answered.head);
}

void InflightTable::unindex(std::uint32_t i) noexcept {
  unplace(slotOf(i, false));
  Entry& e = at(i);
  if (e.second) {
    unplace(slotOf(i, true));
    e.second = false;
    --seconds_;
  }
}

void InflightTable::unplace(std::uint32_t slot) noexcept {
  std::size_t hole = home(at(slot >> 1).socket, keyOf(slot));
  while (index_[hole] != slot) hole = (hole + 1) & mask_;
  // Backward-shift deletion: move up any later entry of the run whose home is at or before
  // the hole (cyclically), so that no lookup stops early at the hole.
  for (std::size_t j = (hole + 1) & mask_;; j = (j + 1) & mask_) {
    const std::uint32_t k = index_[j];
    if (k == kNone) break;
    const std::size_t h = home(at(k >> 1).socket, keyOf(k));
    // Is h cyclically within (hole, j]? Then the entry may stay.
    const bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
    if (!stays) {
      index_[hole] = k;
      hole = j;
    }
  }
  index_[hole] = kNone;
}

void InflightTable::erase(std::uint32_t i) noexcept {
  Entry& e = at(i);
  if (e.state == State::Free) return;
  unindex(i);
  unlink(listOf(e), i);
  if (e.state == State::Pending) --pending_;
  --size_;
  e.state = State::Free;
  e.next = free_;
  free_ = i;
}

void InflightTable::end(std::uint32_t i, InflightEnd why) noexcept {
  Entry& e = at(i);
  if (e.state == State::Pending && on_end_ != nullptr) on_end_(ctx_, e, why);
  erase(i);
}

bool InflightTable::evictFrom(std::uint32_t lane) noexcept {
  Lane& ln = lanes_[lane];
  if (ln.answered.head != kNone) {
    erase(ln.answered.head);
    return true;
  }
  if (ln.pending.head != kNone) {
    end(ln.pending.head, InflightEnd::Evicted);
    return true;
  }
  return false;
}

std::optional<TimePoint> InflightTable::expire(TimePoint now) noexcept {
  std::optional<TimePoint> next;
  const auto consider = [&next](TimePoint t) {
    if (!next || t < *next) next = t;
  };
  for (Lane& ln : lanes_) {
    while (ln.answered.head != kNone && at(ln.answered.head).sent + ln.timeout <= now) erase(ln.answered.head);
    while (ln.pending.head != kNone && at(ln.pending.head).sent + ln.timeout <= now) {
      end(ln.pending.head, InflightEnd::Expired);
    }
    if (ln.answered.head != kNone) consider(at(ln.answered.head).sent + ln.timeout);
    if (ln.pending.head != kNone) consider(at(ln.pending.head).sent + ln.timeout);
  }
  return next;
}

void InflightTable::clearLane(std::uint32_t lane, InflightEnd why) noexcept {
  if (lane >= lanes_.size()) return;
  Lane& ln = lanes_[lane];
  while (ln.answered.head != kNone) erase(ln.answered.head);
  while (ln.pending.head != kNone) end(ln.pending.head, why);
}

}  // namespace udpx

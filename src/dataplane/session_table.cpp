// SessionTable: chained hash on (lane, client address) plus two intrusive LRU lists.
#include "dataplane/session_table.h"

#include <new>

namespace udpx {

SessionTable::SessionTable(std::uint32_t global_cap, EndFn on_end)
    : global_cap_(global_cap == 0 ? 1 : global_cap), on_end_(std::move(on_end)), buckets_(64, nullptr) {}

SessionTable::~SessionTable() { clear(SessionEnd::Shutdown); }

std::uint32_t SessionTable::addLane(milliseconds timeout, std::uint32_t cap) {
  Lane l;
  l.timeout = timeout;
  l.cap = cap == 0 ? 1 : cap;
  for (std::size_t i = 0; i < lanes_.size(); ++i) {
    if (lanes_[i].free) {
      lanes_[i] = l;
      return static_cast<std::uint32_t>(i);
    }
  }
  lanes_.push_back(l);
  return static_cast<std::uint32_t>(lanes_.size() - 1);
}

void SessionTable::setLane(std::uint32_t lane, milliseconds timeout, std::uint32_t cap) noexcept {
  Lane& l = lanes_[lane];
  l.timeout = timeout;
  l.cap = cap == 0 ? 1 : cap;
  while (l.count > l.cap && l.head != nullptr) remove(*l.head, SessionEnd::Evicted);
}

void SessionTable::releaseLane(std::uint32_t lane, SessionEnd why) noexcept {
  clearLane(lane, why);
  lanes_[lane].free = true;
}

void SessionTable::setGlobalCap(std::uint32_t cap) noexcept {
  global_cap_ = cap == 0 ? 1 : cap;
  while (count_ > global_cap_ && all_head_ != nullptr) remove(*all_head_, SessionEnd::Evicted);
}

std::size_t SessionTable::bucketOf(std::uint32_t lane, const SockAddr& client) const noexcept {
  std::size_t h = client.hash() ^ (static_cast<std::size_t>(lane) * 0x9e3779b97f4a7c15ULL);
  h ^= h >> 29;
  return h & (buckets_.size() - 1);
}

Session* SessionTable::find(std::uint32_t lane, const SockAddr& client) noexcept {
  for (Session* s = buckets_[bucketOf(lane, client)]; s != nullptr; s = s->hash_next) {
    if (s->lane == lane && s->client == client) return s;
  }
  return nullptr;
}

void SessionTable::hashInsert(Session* s) noexcept {
  Session*& head = buckets_[bucketOf(s->lane, s->client)];
  s->hash_next = head;
  head = s;
}

void SessionTable::hashErase(Session* s) noexcept {
  Session** p = &buckets_[bucketOf(s->lane, s->client)];
  while (*p != nullptr && *p != s) p = &(*p)->hash_next;
  if (*p == s) *p = s->hash_next;
  s->hash_next = nullptr;
}

void SessionTable::grow() noexcept {
  std::vector<Session*> old;
  try {
    std::vector<Session*> bigger(buckets_.size() * 2, nullptr);
    old.swap(buckets_);
    buckets_.swap(bigger);
  } catch (const std::bad_alloc&) {
    return;  // keep the current size: longer chains, still correct
  }
  for (Session* head : old) {
    while (head != nullptr) {
      Session* next = head->hash_next;
      hashInsert(head);
      head = next;
    }
  }
}

Session* SessionTable::allocate() noexcept {
  if (free_ == nullptr) {
    std::unique_ptr<Session[]> chunk(new (std::nothrow) Session[kChunk]);
    if (!chunk) return nullptr;
    try {
      chunks_.push_back(std::move(chunk));
    } catch (const std::bad_alloc&) {
      return nullptr;
    }
    Session* c = chunks_.back().get();
    for (std::size_t i = 0; i < kChunk; ++i) {
      c[i].hash_next = free_;
      free_ = &c[i];
    }
  }
  Session* s = free_;
  free_ = s->hash_next;
  *s = Session{};
  return s;
}

void SessionTable::release(Session* s) noexcept {
  *s = Session{};
  s->hash_next = free_;
  free_ = s;
}

Session* SessionTable::create(std::uint32_t lane, const SockAddr& client, TimePoint now) noexcept {
  Lane& l = lanes_[lane];
  if (l.per_client_cap != 0) evictForHost(lane, client);
  if (l.count >= l.cap && l.head != nullptr) {
    remove(*l.head, SessionEnd::Evicted);
  } else if (count_ >= global_cap_ && all_head_ != nullptr) {
    remove(*all_head_, SessionEnd::Evicted);
  }
  Session* s = allocate();
  if (s == nullptr) return nullptr;
  s->client = client;
  s->lane = lane;
  s->last_active = now;
  if (count_ >= buckets_.size()) grow();
  hashInsert(s);
  // Append to both LRU lists as the most recent.
  s->lane_prev = l.tail;
  if (l.tail != nullptr) l.tail->lane_next = s; else l.head = s;
  l.tail = s;
  s->all_prev = all_tail_;
  if (all_tail_ != nullptr) all_tail_->all_next = s; else all_head_ = s;
  all_tail_ = s;
  ++l.count;
  ++count_;
  if (l.per_client_cap != 0) joinHost(*s);
  return s;
}

void SessionTable::touch(Session& s, TimePoint now) noexcept {
  s.last_active = now;
  Lane& l = lanes_[s.lane];
  if (l.tail != &s) {
    // unlink from the lane list, append at the tail
    if (s.lane_prev != nullptr) s.lane_prev->lane_next = s.lane_next; else l.head = s.lane_next;
    s.lane_next->lane_prev = s.lane_prev;
    s.lane_prev = l.tail;
    s.lane_next = nullptr;
    l.tail->lane_next = &s;
    l.tail = &s;
  }
  if (all_tail_ != &s) {
    if (s.all_prev != nullptr) s.all_prev->all_next = s.all_next; else all_head_ = s.all_next;
    s.all_next->all_prev = s.all_prev;
    s.all_prev = all_tail_;
    s.all_next = nullptr;
    all_tail_->all_next = &s;
    all_tail_ = &s;
  }
}

void SessionTable::remove(Session& s, SessionEnd why) noexcept {
  if (on_end_) on_end_(s, why);
  leaveHost(s);
  Lane& l = lanes_[s.lane];
  hashErase(&s);
  if (s.lane_prev != nullptr) s.lane_prev->lane_next = s.lane_next; else l.head = s.lane_next;
  if (s.lane_next != nullptr) s.lane_next->lane_prev = s.lane_prev; else l.tail = s.lane_prev;
  if (s.all_prev != nullptr) s.all_prev->all_next = s.all_next; else all_head_ = s.all_next;
  if (s.all_next != nullptr) s.all_next->all_prev = s.all_prev; else all_tail_ = s.all_prev;
  --l.count;
  --count_;
  release(&s);
}

std::optional<TimePoint> SessionTable::expire(TimePoint now) noexcept {
  for (Lane& l : lanes_) {
    // The lane list is in last-activity order, so the expired sessions are a prefix of it.
    while (l.head != nullptr && l.head->last_active + l.timeout <= now) remove(*l.head, SessionEnd::Expired);
  }
  return nextDeadline();
}

std::optional<TimePoint> SessionTable::nextDeadline() const noexcept {
  std::optional<TimePoint> next;
  for (const Lane& l : lanes_) {
    if (l.head == nullptr) continue;
    TimePoint d = l.head->last_active + l.timeout;
    if (!next || d < *next) next = d;
  }
  return next;
}

void SessionTable::clearLane(std::uint32_t lane, SessionEnd why) noexcept {
  while (lanes_[lane].head != nullptr) remove(*lanes_[lane].head, why);
}

void SessionTable::clear(SessionEnd why) noexcept {
  while (all_head_ != nullptr) remove(*all_head_, why);
}

}  // namespace udpx

// SessionTable's host groups: each client host's sessions in a lane, for max_sessions_per_client
// (a flood of new source ports from one host evicts that host's own sessions, not everyone's).
#include <new>

#include "dataplane/session_table.h"

namespace udpx {
namespace {

SockAddr hostOf(const SockAddr& client) noexcept {
  SockAddr h = client;
  h.setPort(0);
  return h;
}

}  // namespace

HostGroup* SessionTable::findHost(std::uint32_t lane, const SockAddr& host) noexcept {
  if (host_buckets_.empty()) return nullptr;
  const std::size_t b = (host.hash() ^ (lane * 0x9e3779b97f4a7c15ull)) & (host_buckets_.size() - 1);
  for (HostGroup* g = host_buckets_[b]; g != nullptr; g = g->hash_next) {
    if (g->lane == lane && g->host == host) return g;
  }
  return nullptr;
}

HostGroup* SessionTable::addHost(std::uint32_t lane, const SockAddr& host) noexcept {
  try {
    if (host_buckets_.empty()) host_buckets_.assign(64, nullptr);
    if (host_count_ >= host_buckets_.size()) {
      std::vector<HostGroup*> bigger(host_buckets_.size() * 2, nullptr);
      for (HostGroup* head : host_buckets_) {
        while (head != nullptr) {
          HostGroup* next = head->hash_next;
          const std::size_t b = (head->host.hash() ^ (head->lane * 0x9e3779b97f4a7c15ull)) & (bigger.size() - 1);
          head->hash_next = bigger[b];
          bigger[b] = head;
          head = next;
        }
      }
      host_buckets_.swap(bigger);
    }
    if (free_hosts_ == nullptr) {
      std::unique_ptr<HostGroup[]> chunk(new HostGroup[kChunk]);
      host_chunks_.push_back(std::move(chunk));
      HostGroup* c = host_chunks_.back().get();
      for (std::size_t i = 0; i < kChunk; ++i) {
        c[i].hash_next = free_hosts_;
        free_hosts_ = &c[i];
      }
    }
  } catch (const std::bad_alloc&) {
    return nullptr;  // the session goes uncounted: still correct, only not capped
  }
  HostGroup* g = free_hosts_;
  free_hosts_ = g->hash_next;
  *g = HostGroup{};
  g->host = host;
  g->lane = lane;
  const std::size_t b = (host.hash() ^ (lane * 0x9e3779b97f4a7c15ull)) & (host_buckets_.size() - 1);
  g->hash_next = host_buckets_[b];
  host_buckets_[b] = g;
  ++host_count_;
  return g;
}

std::uint32_t SessionTable::hostSessions(std::uint32_t lane, const SockAddr& client) noexcept {
  const HostGroup* g = findHost(lane, hostOf(client));
  return g == nullptr ? 0 : g->count;
}

void SessionTable::evictForHost(std::uint32_t lane, const SockAddr& client) noexcept {
  HostGroup* g = findHost(lane, hostOf(client));
  if (g != nullptr && g->count >= lanes_[lane].per_client_cap) remove(*g->head, SessionEnd::EvictedPerClient);
}

void SessionTable::joinHost(Session& s) noexcept {
  const SockAddr host = hostOf(s.client);
  HostGroup* g = findHost(s.lane, host);
  if (g == nullptr) g = addHost(s.lane, host);
  if (g == nullptr) return;
  s.host = g;
  s.host_prev = g->tail;
  s.host_next = nullptr;
  if (g->tail != nullptr) g->tail->host_next = &s; else g->head = &s;
  g->tail = &s;
  ++g->count;
}

void SessionTable::leaveHost(Session& s) noexcept {
  HostGroup* g = s.host;
  if (g == nullptr) return;
  if (s.host_prev != nullptr) s.host_prev->host_next = s.host_next; else g->head = s.host_next;
  if (s.host_next != nullptr) s.host_next->host_prev = s.host_prev; else g->tail = s.host_prev;
  s.host = nullptr;
  if (--g->count > 0) return;
  // The host's last session: its group goes back to the free list.
  const std::size_t b = (g->host.hash() ^ (g->lane * 0x9e3779b97f4a7c15ull)) & (host_buckets_.size() - 1);
  HostGroup** p = &host_buckets_[b];
  while (*p != nullptr && *p != g) p = &(*p)->hash_next;
  if (*p == g) *p = g->hash_next;
  --host_count_;
  g->hash_next = free_hosts_;
  free_hosts_ = g;
}

}  // namespace udpx

// SessionTable: every live session, found by (frontend, client address) in O(1), kept in
// least-recently-used order per frontend and overall, expired by idle time with one timer.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "base/clock.h"
#include "dataplane/session.h"

namespace udpx {

enum class SessionEnd : std::uint8_t {
  Expired,   // idle for the frontend's session_timeout
  Evicted,   // least recently used, removed to make room under a cap
  Closed,    // ended by the data path (reply budget used up, upstream refused)
  Shutdown,  // udpx is stopping or the frontend is going away
  EvictedPerClient,  // the client host's oldest session, removed for its new one at max_sessions_per_client
};

// One client host's sessions in one lane (all its source ports), for max_sessions_per_client.
struct HostGroup {
  SockAddr host;  // the client address with port 0
  std::uint32_t lane = 0;
  std::uint32_t count = 0;
  Session* head = nullptr;  // oldest
  Session* tail = nullptr;
  HostGroup* hash_next = nullptr;
};

class SessionTable {
 public:
  // Called for every session leaving the table, before it is unlinked and recycled: the owner
  // closes the upstream socket here. It must not call back into the table.
  using EndFn = std::function<void(Session&, SessionEnd)>;

  SessionTable(std::uint32_t global_cap, EndFn on_end);
  ~SessionTable();
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  // Registers a frontend's lane: its idle timeout and its own cap. Returns the lane id (a lane
  // freed by releaseLane is used again).
  std::uint32_t addLane(milliseconds timeout, std::uint32_t cap);
  // A reload changed the frontend's timeout or cap: a smaller cap ends the least recently used
  // sessions over it (Evicted). The caller re-arms expiry for a shorter timeout.
  void setLane(std::uint32_t lane, milliseconds timeout, std::uint32_t cap) noexcept;
  // Ends every session of the lane (`why`) and frees it for addLane (a frontend removed).
  void releaseLane(std::uint32_t lane, SessionEnd why) noexcept;
  // The lane's max_sessions_per_client (0: none): a host at the cap gives up its oldest session
  // for a new one. Applies to sessions opened from now on (those open before are not counted).
  void setPerClientCap(std::uint32_t lane, std::uint32_t cap) noexcept { lanes_[lane].per_client_cap = cap; }
  // How many sessions the host of `client` has in the lane (0 when the lane has no cap).
  std::uint32_t hostSessions(std::uint32_t lane, const SockAddr& client) noexcept;
  // A reload changed global.max_sessions: a smaller cap ends the least recently used sessions
  // of the whole table over it (Evicted).
  void setGlobalCap(std::uint32_t cap) noexcept;
  // Ends the sessions of a lane for which `pred(const Session&)` holds (a reload: a listen
  // address that goes, a client the narrower `allow` no longer admits).
  template <typename Pred>
  std::size_t removeIf(std::uint32_t lane, Pred pred, SessionEnd why) noexcept {
    std::size_t n = 0;
    for (Session* s = lanes_[lane].head; s != nullptr;) {
      Session* next = s->lane_next;
      if (pred(static_cast<const Session&>(*s))) {
        remove(*s, why);
        ++n;
      }
      s = next;
    }
    return n;
  }

  Session* find(std::uint32_t lane, const SockAddr& client) noexcept;

  // Creates a session, evicting the least recently used one of the lane (lane cap) or of the
  // whole table (global cap) first if needed. Returns nullptr only if memory is exhausted.
  Session* create(std::uint32_t lane, const SockAddr& client, TimePoint now) noexcept;

  // Marks activity: the session becomes the most recently used and its idle clock restarts.
  void touch(Session& s, TimePoint now) noexcept;

  void remove(Session& s, SessionEnd why) noexcept;

  // Ends every session idle for longer than its lane's timeout. Returns the next deadline.
  std::optional<TimePoint> expire(TimePoint now) noexcept;

  // When the next session would expire if nothing happens (nullopt: table empty).
  std::optional<TimePoint> nextDeadline() const noexcept;

  // Ends every session of a lane (or of all lanes).
  void clearLane(std::uint32_t lane, SessionEnd why) noexcept;
  void clear(SessionEnd why) noexcept;

  std::uint32_t size() const noexcept { return count_; }
  std::uint32_t globalCap() const noexcept { return global_cap_; }
  std::uint32_t laneSize(std::uint32_t lane) const noexcept { return lanes_[lane].count; }

 private:
  struct Lane {
    Session* head = nullptr;  // least recently used
    Session* tail = nullptr;
    std::uint32_t count = 0;
    std::uint32_t cap = 0;
    milliseconds timeout{};
    std::uint32_t per_client_cap = 0;  // max_sessions_per_client; 0: none
    bool free = false;  // released, waiting for addLane
  };
  // Host groups (max_sessions_per_client): a chained hash on (lane, host), from chunks like the
  // sessions' (never returned; one allocation per kChunk groups ever needed at the peak).
  HostGroup* findHost(std::uint32_t lane, const SockAddr& host) noexcept;
  HostGroup* addHost(std::uint32_t lane, const SockAddr& host) noexcept;
  void joinHost(Session& s) noexcept;
  // Ends the oldest session of the client's host if the host is at the lane's cap.
  void evictForHost(std::uint32_t lane, const SockAddr& client) noexcept;
  void leaveHost(Session& s) noexcept;
  std::vector<HostGroup*> host_buckets_;
  std::uint32_t host_count_ = 0;
  std::vector<std::unique_ptr<HostGroup[]>> host_chunks_;
  HostGroup* free_hosts_ = nullptr;

  std::size_t bucketOf(std::uint32_t lane, const SockAddr& client) const noexcept;
  Session* allocate() noexcept;
  void release(Session* s) noexcept;
  void grow() noexcept;
  void hashInsert(Session* s) noexcept;
  void hashErase(Session* s) noexcept;

  std::uint32_t global_cap_;
  EndFn on_end_;
  std::vector<Lane> lanes_;
  Session* all_head_ = nullptr;
  Session* all_tail_ = nullptr;
  std::uint32_t count_ = 0;
  std::vector<Session*> buckets_;
  // Sessions come from chunks that are never returned: no allocation per datagram, and only
  // one per kChunk sessions ever created at the peak.
  static constexpr std::size_t kChunk = 64;
  std::vector<std::unique_ptr<Session[]>> chunks_;
  Session* free_ = nullptr;
};

}  // namespace udpx

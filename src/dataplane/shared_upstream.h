// SharedUpstream: the pools of connected UDP sockets that requests of one-shot protocols (ntp,
// dns) share, a small pool per (frontend, server), each socket on a random source port and
// re-opened from time to time. Opening and closing happen here; the datagrams are the Proxy's
// (dataplane/proxy_shared.cpp, proxy_replies.cpp).
#pragma once

#include <event2/event.h>
#include <event2/event_struct.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "config/config.h"
#include "dataplane/upstream.h"

namespace udpx {

class Frontend;
class Server;

struct PoolSocket {
  int fd = -1;
  event ev{};
  std::uint32_t id = 0;  // its number in SharedUpstream, the in-flight table's key with the token
  Frontend* frontend = nullptr;
  Server* server = nullptr;
  void* owner = nullptr;  // the Proxy, for the event callback
  std::uint32_t in_flight = 0;  // pending requests sent through it
  std::uint32_t uses = 0;       // requests sent since it was opened
  TimePoint opened{}, last_used{};
  bool retiring = false;  // takes no new requests; closed once nothing is in flight
};

class SharedUpstream {
 public:
  // What a pool socket asks for as its receive queue (capped by the kernel, see open()).
  static constexpr int kPoolReceiveBuffer = 4 << 20;
  // Sockets per (frontend, server): the frontend's upstream_pool_sockets (default 4: enough to
  // spread DNS IDs, 65,536 a socket, and the kernel's per-socket queue, few enough to stay far
  // below any descriptor limit), at most this many (config/config.h says why).
  static constexpr std::size_t kMaxSocketsPerPool = kMaxUpstreamPoolSockets;
  // A socket is re-opened (a new random port) after this many requests or this long.
  static constexpr std::uint32_t kRotateUses = 1u << 20;
  static constexpr std::chrono::seconds kRotateAge{300};
  // A socket without requests for this long is closed.
  static constexpr std::chrono::seconds kIdleClose{60};
  // While sockets are open, the data path's timer sweeps them at least this often.
  static constexpr std::chrono::seconds kSweepEvery{10};

  // `on_readable` is the Proxy's callback; its arg is the PoolSocket.
  SharedUpstream(event_base* base, UpstreamSockets& sockets, event_callback_fn on_readable, void* owner);
  ~SharedUpstream();
  SharedUpstream(const SharedUpstream&) = delete;
  SharedUpstream& operator=(const SharedUpstream&) = delete;

  // The socket for the next request from `fe` to `server`, opened or rotated here. Every
  // request of one receive batch (`batch`: the caller's count of them) takes the socket the
  // batch's first request took, so they leave in one sendmmsg and their replies come back on
  // one socket, read together; the next batch takes the pool's next socket (round-robin).
  // nullptr: no socket could be opened; `error` holds the errno.
  PoolSocket* pick(Frontend& fe, Server& server, TimePoint now, std::uint64_t batch, int& error) noexcept;
  // The other sockets of the same pool, for a request whose fixed token is busy on `s`:
  // `attempt` 1 .. (sockets in the pool) - 1. nullptr: none.
  PoolSocket* sibling(const PoolSocket& s, std::size_t attempt) noexcept;
  PoolSocket& at(std::uint32_t id) noexcept { return *sockets_[id]; }

  // A request through `s` ended (answered, expired, failed): closes it if it is retiring and
  // was the last.
  void released(PoolSocket& s) noexcept;
  // Closes sockets idle for kIdleClose, and retiring or draining servers' sockets with nothing
  // in flight. True while any socket stays open.
  bool sweep(TimePoint now) noexcept;
  // `fe`'s upstream_pool_sockets changed (a reload): each of its pools keeps its first sockets
  // up to the new count and retires the rest (closed once nothing is in flight on them); a
  // larger count is reached as the next batches open sockets.
  void resized(const Frontend& fe) noexcept;
  // Closes every socket of `fe` (its requests were ended first).
  void closeFrontend(const Frontend& fe) noexcept;
  void closeAll() noexcept;

  // What status shows.
  std::uint32_t openSockets() const noexcept { return open_; }

 private:
  struct Key {
    const Frontend* fe;
    const Server* server;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept {
      return std::hash<const void*>()(k.fe) * 31 + std::hash<const void*>()(k.server);
    }
  };
  struct Pool {
    std::array<std::uint32_t, kMaxSocketsPerPool> ids{};  // sized by the maximum: no allocation
    std::size_t count = 0;  // ids[0, count) are open and not retiring
    std::size_t cursor = 0;  // ids[cursor]: the socket the last batch took
    std::uint64_t batch = 0;  // that batch; 0: none yet (the caller counts from 1)
  };
  PoolSocket* open(Frontend& fe, Server& server, TimePoint now, int& error) noexcept;
  void close(PoolSocket& s) noexcept;
  // Takes `s` out of its pool's rotation (it stays open while requests are in flight).
  void retire(PoolSocket& s) noexcept;
  // Retires the sockets of `p` beyond its first `size` (at least 1).
  void trim(Pool& p, std::size_t size) noexcept;

  event_base* base_;
  UpstreamSockets& sockets_factory_;
  event_callback_fn on_readable_;
  void* owner_;
  std::vector<std::unique_ptr<PoolSocket>> sockets_;  // by id; fd -1: free
  std::vector<std::uint32_t> free_ids_;
  std::unordered_map<Key, Pool, KeyHash> pools_;
  std::uint32_t open_ = 0;
};

}  // namespace udpx

// A session: one client address on one frontend, bound to one upstream server through its own
// connected UDP socket (a random ephemeral port), alive until idle, evicted, or its reply budget
// is used up.
#pragma once

#include <event2/event_struct.h>
#include <netinet/in.h>

#include <array>
#include <cstdint>

#include "net/address.h"
#include "base/clock.h"
#include "protocols/protocol.h"

namespace udpx {

class Frontend;
class Listener;
class Server;
struct HostGroup;

// The local address a client sent its datagram to: replies must leave from it (IP_PKTINFO),
// or a client behind a multi-homed wildcard listener would drop them as coming from a stranger.
struct LocalAddr {
  int family = AF_UNSPEC;
  unsigned ifindex = 0;
  union {
    in_addr v4;
    in6_addr v6;
  };
  LocalAddr() noexcept : v6{} {}
};

struct Session {
  // ---- kept by SessionTable ----
  SockAddr client;
  std::uint32_t lane = 0;  // the frontend's lane in the table
  Session* hash_next = nullptr;
  Session* lane_prev = nullptr;  // LRU order within the frontend (head = least recent)
  Session* lane_next = nullptr;
  Session* all_prev = nullptr;   // LRU order across all frontends (for the global cap)
  Session* all_next = nullptr;
  TimePoint last_active{};
  // The client host's other sessions in this lane, oldest first (max_sessions_per_client);
  // nullptr when the lane has no per-client cap.
  HostGroup* host = nullptr;
  Session* host_prev = nullptr;
  Session* host_next = nullptr;

  // ---- kept by the data path ----
  int fd = -1;                   // connected upstream socket
  event ev{};                    // readability of fd; embedded so a session costs no extra malloc
  Frontend* frontend = nullptr;
  Listener* listener = nullptr;  // the socket the client talks to, replies leave through it
  Server* server = nullptr;
  LocalAddr local;
  std::uint32_t replies_left = 0;  // kUnlimitedResponses: no budget
  std::uint16_t max_request_len = 0;
  // Tokens of recent requests awaiting a reply (NTP transmit timestamps, DNS IDs): a small
  // ring, enough for clients with a few queries in flight from one port.
  static constexpr std::size_t kPending = 4;
  std::array<Token, kPending> pending{};
  std::uint8_t pending_count = 0;
  std::uint8_t pending_next = 0;
  // Requests forwarded and not (yet) answered: at the session's idle end they count against
  // the server (passive health). Only for frontends that expect replies.
  std::uint16_t awaiting = 0;

  void addPending(Token t) noexcept {
    pending[pending_next] = t;
    pending_next = static_cast<std::uint8_t>((pending_next + 1) % kPending);
    if (pending_count < kPending) ++pending_count;
  }
  // Removes `t` from the pending ring; false if no pending request has that token.
  bool takePending(Token t) noexcept {
    for (std::size_t i = 0; i < pending_count; ++i) {
      std::size_t idx = (pending_next + kPending - 1 - i) % kPending;
      if (pending[idx] == t) {
        // Move the newest entry into the hole, then shrink: order does not matter for matching
        // beyond "recent ones survive", and the ring stays compact.
        std::size_t newest = (pending_next + kPending - 1) % kPending;
        pending[idx] = pending[newest];
        pending_next = static_cast<std::uint8_t>(newest);
        --pending_count;
        return true;
      }
    }
    return false;
  }
};

}  // namespace udpx

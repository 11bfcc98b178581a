// A frontend's counters: plain integers the data path bumps (no atomics: one thread), declared
// once with their names in the status JSON and /metrics (base/counter.h), read at dump/scrape time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

#include "base/counter.h"

namespace udpx {

// Why a datagram was dropped. Every drop increments exactly one of these.
enum class Drop : std::uint8_t {
  Acl,             // client address not in the frontend's allow list
  Malformed,       // request is not valid for the preset's protocol
  WrongKind,       // well-formed but not a request (an NTP server reply, a DNS response)
  Control,         // control/management query refused (NTP mode 6/7)
  TooLarge,        // request larger than max_datagram
  NoBackend,       // the backend has no server to send to
  SocketError,     // no upstream socket could be opened (EMFILE, ENFILE, unreachable network)
  SendError,       // sending upstream failed
  ReplyMalformed,  // upstream datagram is not valid for the protocol
  ReplyWrongKind,  // upstream datagram is not a reply (e.g. NTP mode 3 sent back)
  ReplyUnmatched,  // reply answers no pending request (NTP origin / DNS ID mismatch)
  ReplyTooLarge,   // reply larger than allowed (max_datagram, or NTP: larger than the request)
  ReplyUnexpected, // reply beyond the session's response budget (one-way frontends)
  ReplySendError,  // sending the reply to the client failed
  TokenBusy,       // shared upstream sockets: no free token on any socket of the server's pool
  RateLimited,     // over the client's (or its prefix's) rate_limit
  kCount
};
inline constexpr std::size_t kDropCount = static_cast<std::size_t>(Drop::kCount);

// Stable snake_case name: the key in the status JSON and the reason label in /metrics.
std::string_view dropName(Drop d) noexcept;

// What a frontend counts. Every member is a counter declared in one of the lists below; the
// static_assert after them catches a member added without its declaration.
struct FrontendStats {
  std::uint64_t received = 0, received_bytes = 0;    // datagrams from clients
  std::uint64_t forwarded = 0, forwarded_bytes = 0;  // sent upstream
  std::uint64_t replied = 0, replied_bytes = 0;      // replies delivered to clients
  std::uint64_t replied_truncated = 0;               // of those, cut short (DNS TC): the client retries over TCP
  std::uint64_t token_collisions = 0;                // shared sockets: a drawn token was in use, drawn again
  std::uint64_t kod_sent = 0;                        // RATE kisses-o'-death sent to rate-limited clients
  std::array<std::uint64_t, kDropCount> dropped{};
  std::uint64_t sessions_created = 0;
  std::uint64_t sessions_expired = 0;  // idle for session_timeout (shared sockets: a request unanswered that long)
  std::uint64_t sessions_evicted = 0;  // least recently used, removed for a new one at the cap (shared: oldest request)
  std::uint64_t sessions_closed = 0;   // response budget used up, or upstream refused
  std::uint64_t sessions_evicted_per_client = 0;  // the host's oldest, for its new one at max_sessions_per_client

  void drop(Drop d) noexcept { ++dropped[static_cast<std::size_t>(d)]; }
  bool operator==(const FrontendStats&) const = default;
};

// Traffic, in the frontend's own JSON object; in /metrics before the drops (label frontend).
inline constexpr Counter<FrontendStats> kFrontendTrafficCounters[] = {
    {&FrontendStats::received, "received", "udpx_frontend_received_packets_total",
     "Datagrams received from clients, before any check."},
    {&FrontendStats::received_bytes, "received_bytes", "udpx_frontend_received_bytes_total",
     "Payload bytes received from clients."},
    {&FrontendStats::forwarded, "forwarded", "udpx_frontend_forwarded_packets_total",
     "Requests sent to an upstream server."},
    {&FrontendStats::forwarded_bytes, "forwarded_bytes", "udpx_frontend_forwarded_bytes_total",
     "Payload bytes of the requests sent upstream."},
    {&FrontendStats::replied, "replied", "udpx_frontend_replied_packets_total", "Replies delivered to clients."},
    {&FrontendStats::replied_bytes, "replied_bytes", "udpx_frontend_replied_bytes_total",
     "Payload bytes of the replies delivered to clients."},
    {&FrontendStats::replied_truncated, "replied_truncated", "udpx_frontend_replied_truncated_packets_total",
     "Replies passed to clients that say they are truncated (DNS TC bit): the client retries over TCP, which "
     "udpx does not relay."},
    {&FrontendStats::token_collisions, "token_collisions", "udpx_frontend_token_collisions_total",
     "Shared upstream sockets: tokens (DNS IDs, NTP cookies) drawn for a request that were already in use on the "
     "socket, and drawn again."},
    {&FrontendStats::kod_sent, "kod_sent", "udpx_frontend_kod_sent_packets_total",
     "RATE kisses-o'-death udpx sent to rate-limited NTP clients (kod = true), paced by their own limit."},
};

// Drops, one counter per reason (dropName): in the frontend's "dropped" object; in /metrics one
// family with the reason as a label.
inline constexpr CounterArray kDropCounters{
    "dropped", "udpx_frontend_dropped_packets_total",
    "Datagrams dropped, by reason; reply_* reasons count datagrams from upstream servers.", "reason"};

inline constexpr std::string_view kSessionsEndedHelp =
    "Sessions ended, by reason: expired (idle for session_timeout), evicted (least recently used, at "
    "max_sessions), closed (reply budget used up, or the server refused), evicted_per_client (the client host's "
    "oldest, for its new one at max_sessions_per_client).";
// Sessions, in the frontend's "sessions" object; in /metrics after the session gauges.
inline constexpr Counter<FrontendStats> kFrontendSessionCounters[] = {
    {&FrontendStats::sessions_created, "sessions.created", "udpx_frontend_sessions_created_total",
     "Sessions opened for new clients."},
    {&FrontendStats::sessions_expired, "sessions.expired", "udpx_frontend_sessions_ended_total", kSessionsEndedHelp,
     "reason", "expired"},
    {&FrontendStats::sessions_evicted, "sessions.evicted", "udpx_frontend_sessions_ended_total", kSessionsEndedHelp,
     "reason", "evicted"},
    {&FrontendStats::sessions_closed, "sessions.closed", "udpx_frontend_sessions_ended_total", kSessionsEndedHelp,
     "reason", "closed"},
    {&FrontendStats::sessions_evicted_per_client, "sessions.evicted_per_client", "udpx_frontend_sessions_ended_total",
     kSessionsEndedHelp, "reason", "evicted_per_client"},
};

static_assert(sizeof(FrontendStats) == sizeof(std::uint64_t) * (std::size(kFrontendTrafficCounters) + kDropCount +
                                                                 std::size(kFrontendSessionCounters)),
              "every member of FrontendStats is declared in a counter list above");

}  // namespace udpx

// Plain counters bumped by the data path (no atomics: one thread) and read at dump/scrape time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

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
  kCount
};
inline constexpr std::size_t kDropCount = static_cast<std::size_t>(Drop::kCount);

// Stable snake_case name used in logs, the stats dump and (later) metrics labels.
std::string_view dropName(Drop d) noexcept;

struct FrontendStats {
  std::uint64_t received = 0, received_bytes = 0;    // datagrams from clients
  std::uint64_t forwarded = 0, forwarded_bytes = 0;  // sent upstream
  std::uint64_t replied = 0, replied_bytes = 0;      // replies delivered to clients
  std::array<std::uint64_t, kDropCount> dropped{};
  std::uint64_t sessions_created = 0;
  std::uint64_t sessions_expired = 0;  // idle for session_timeout
  std::uint64_t sessions_evicted = 0;  // least recently used, removed for a new one at the cap
  std::uint64_t sessions_closed = 0;   // response budget used up, or upstream refused

  void drop(Drop d) noexcept { ++dropped[static_cast<std::size_t>(d)]; }
};

// Configuration reloads (SIGHUP) by outcome; read by /metrics.
struct ReloadStats {
  std::uint64_t succeeded = 0;  // the new configuration was validated and applied
  std::uint64_t failed = 0;     // it was refused (invalid, or could not be applied); the old one runs on
};

}  // namespace udpx

// A frontend's TCP counters (dataplane/tcp_relay.h), declared once with their names in the
// status JSON (the frontend's "tcp" object) and /metrics, like FrontendStats (dataplane/stats.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string_view>

#include "base/counter.h"

namespace udpx {

// Every accepted connection ends in exactly one of refused_* or closed_* (or is open now):
// accepted = refused + closed + open.
struct TcpStats {
  std::uint64_t accepted = 0;  // connections accepted from clients, before any check
  // Refused: closed before any byte was relayed.
  std::uint64_t refused_acl = 0;          // the client is not in `allow`
  std::uint64_t refused_cap = 0;          // tcp_max_connections open already
  std::uint64_t refused_per_client = 0;   // tcp_max_per_client open already from that address
  std::uint64_t refused_no_backend = 0;   // the backend has no server to use
  std::uint64_t refused_upstream = 0;     // every server tried refused the connection (RST)
  std::uint64_t refused_connect = 0;      // no server tried could be reached (timeout, unreachable)
  // Closed, once relaying.
  std::uint64_t closed_done = 0;          // both sides closed (or one closed and the other followed)
  std::uint64_t closed_idle = 0;          // no byte either way for tcp_idle_timeout
  std::uint64_t closed_error = 0;         // a reset or another error on either side
  std::uint64_t bytes_to_server = 0;      // from clients to servers
  std::uint64_t bytes_to_client = 0;      // from servers to clients

  bool operator==(const TcpStats&) const = default;
  std::uint64_t refused() const noexcept {
    return refused_acl + refused_cap + refused_per_client + refused_no_backend + refused_upstream + refused_connect;
  }
  std::uint64_t closed() const noexcept { return closed_done + closed_idle + closed_error; }
};

inline constexpr std::string_view kTcpRefusedHelp =
    "TCP connections closed before any byte was relayed, by reason: acl (not in allow), cap "
    "(tcp_max_connections), per_client (tcp_max_per_client), no_backend, upstream_refused (every server tried "
    "refused TCP), connect_failed (no server reached in time).";
inline constexpr std::string_view kTcpClosedHelp =
    "Relayed TCP connections that ended, by reason: done (closed by the peers), idle_timeout (tcp_idle_timeout), "
    "error (reset).";
inline constexpr std::string_view kTcpBytesHelp = "Bytes relayed over TCP, by direction.";

// In the frontend's "tcp" object; in /metrics after the frontend's session counters.
inline constexpr Counter<TcpStats> kTcpCounters[] = {
    {&TcpStats::accepted, "tcp.accepted", "udpx_frontend_tcp_accepted_total",
     "TCP connections accepted from clients, before any check."},
    {&TcpStats::refused_acl, "tcp.refused_acl", "udpx_frontend_tcp_refused_total", kTcpRefusedHelp, "reason", "acl"},
    {&TcpStats::refused_cap, "tcp.refused_cap", "udpx_frontend_tcp_refused_total", kTcpRefusedHelp, "reason", "cap"},
    {&TcpStats::refused_per_client, "tcp.refused_per_client", "udpx_frontend_tcp_refused_total", kTcpRefusedHelp,
     "reason", "per_client"},
    {&TcpStats::refused_no_backend, "tcp.refused_no_backend", "udpx_frontend_tcp_refused_total", kTcpRefusedHelp,
     "reason", "no_backend"},
    {&TcpStats::refused_upstream, "tcp.refused_upstream", "udpx_frontend_tcp_refused_total", kTcpRefusedHelp,
     "reason", "upstream_refused"},
    {&TcpStats::refused_connect, "tcp.refused_connect", "udpx_frontend_tcp_refused_total", kTcpRefusedHelp,
     "reason", "connect_failed"},
    {&TcpStats::closed_done, "tcp.closed_done", "udpx_frontend_tcp_closed_total", kTcpClosedHelp, "reason", "done"},
    {&TcpStats::closed_idle, "tcp.closed_idle", "udpx_frontend_tcp_closed_total", kTcpClosedHelp, "reason",
     "idle_timeout"},
    {&TcpStats::closed_error, "tcp.closed_error", "udpx_frontend_tcp_closed_total", kTcpClosedHelp, "reason",
     "error"},
    {&TcpStats::bytes_to_server, "tcp.bytes_to_server", "udpx_frontend_tcp_bytes_total", kTcpBytesHelp, "direction",
     "to_server"},
    {&TcpStats::bytes_to_client, "tcp.bytes_to_client", "udpx_frontend_tcp_bytes_total", kTcpBytesHelp, "direction",
     "to_client"},
};
static_assert(sizeof(TcpStats) == sizeof(std::uint64_t) * std::size(kTcpCounters),
              "every member of TcpStats is declared in kTcpCounters");

}  // namespace udpx

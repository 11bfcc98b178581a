// Shared by the benchmark's load generator and responder: the payload layout, the clock, and a
// small command-line reader. Not part of udpx.
#pragma once

#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace udpx::bench {

// Generic request (any preset that forwards bytes unchanged): the responder echoes it.
//   0..3 magic, 4..7 client index, 8..15 sequence number, 16..23 send time (ns, monotonic).
// NTP-shaped request (48 bytes, mode 3, version 4): the responder answers mode 4 with the
// origin timestamp (24..31) = the request's transmit timestamp (40..47), as a server would.
//   16..23 sequence number (reference timestamp), 32..35 client index, 36..39 magic,
//   40..47 send time (transmit timestamp, comes back as the origin timestamp).
// DNS-shaped request (64 bytes, for the dns preset and dnsdist): a standard query, RD set, for
// "<40 hex digits>.bench." A IN; the hex label is client (8), sequence (16), send time (16).
// The responder answers it (QR, RA, no records).
constexpr std::uint32_t kMagic = 0x55584231;  // "UXB1"
constexpr std::size_t kDnsLen = 64;
constexpr std::size_t kDnsLabel = 40;
constexpr std::size_t kGenericHeader = 24;
constexpr std::size_t kNtpLen = 48;

inline std::uint64_t nowNs() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

inline void put32(std::uint8_t* p, std::uint32_t v) noexcept { std::memcpy(p, &v, sizeof v); }
inline void put64(std::uint8_t* p, std::uint64_t v) noexcept { std::memcpy(p, &v, sizeof v); }
inline std::uint32_t get32(const std::uint8_t* p) noexcept {
  std::uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline std::uint64_t get64(const std::uint8_t* p) noexcept {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// True for a datagram that looks like an NTP client request (mode 3, version 1-4, >= 48 bytes).
inline bool isNtpRequest(const std::uint8_t* p, std::size_t len) noexcept {
  if (len < kNtpLen) return false;
  const unsigned version = (p[0] >> 3) & 7u;
  return (p[0] & 7u) == 3u && version >= 1 && version <= 4;
}

// True for a DNS standard query with one question (opcode 0, QR clear, QDCOUNT 1).
inline bool isDnsQuery(const std::uint8_t* p, std::size_t len) noexcept {
  return len >= 17 && (p[2] & 0xf8) == 0 && p[4] == 0 && p[5] == 1;
}

// "127.0.0.1:5000" -> sockaddr_in. IPv4 only: the benchmark runs on loopback.
inline bool parseEndpoint(const std::string& text, sockaddr_in& out) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  std::memset(&out, 0, sizeof out);
  out.sin_family = AF_INET;
  if (inet_pton(AF_INET, text.substr(0, colon).c_str(), &out.sin_addr) != 1) return false;
  const long port = std::strtol(text.c_str() + colon + 1, nullptr, 10);
  if (port < 0 || port > 65535) return false;
  out.sin_port = htons(static_cast<std::uint16_t>(port));
  return true;
}

[[noreturn]] inline void die(const char* what) {
  std::fprintf(stderr, "%s\n", what);
  std::exit(2);
}

}  // namespace udpx::bench

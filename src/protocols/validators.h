// Private to src/protocols/: the per-protocol validators behind protocol.h's dispatcher,
// and the big-endian readers they share. Nothing outside this directory includes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include <string_view>

#include "protocols/probe.h"
#include "protocols/protocol.h"

namespace udpx::wire {

// Callers check the span's size first; these never look past `at + N`.
inline std::uint16_t readBe16(std::span<const std::uint8_t> pkt, std::size_t at) noexcept {
  return static_cast<std::uint16_t>((pkt[at] << 8) | pkt[at + 1]);
}

inline std::uint64_t readBe64(std::span<const std::uint8_t> pkt, std::size_t at) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | pkt[at + i];
  return v;
}

}  // namespace udpx::wire

namespace udpx::ntp {
inline constexpr bool kUsesTokens = true;
inline constexpr bool kRepliesBoundedByRequest = true;
Check checkRequest(std::span<const std::uint8_t> pkt, Token& token) noexcept;
Check checkReply(std::span<const std::uint8_t> pkt, Token& token) noexcept;
}  // namespace udpx::ntp

namespace udpx::dns {
inline constexpr bool kUsesTokens = true;
inline constexpr bool kRepliesBoundedByRequest = false;
Check checkRequest(std::span<const std::uint8_t> pkt, Token& token) noexcept;
Check checkReply(std::span<const std::uint8_t> pkt, Token& token) noexcept;
}  // namespace udpx::dns

namespace udpx::syslog {
inline constexpr bool kUsesTokens = false;
inline constexpr bool kRepliesBoundedByRequest = false;
Check checkRequest(std::span<const std::uint8_t> pkt, Token& token) noexcept;
Check checkReply(std::span<const std::uint8_t> pkt, Token& token) noexcept;
}  // namespace udpx::syslog

namespace udpx::raw {
inline constexpr bool kUsesTokens = false;
inline constexpr bool kRepliesBoundedByRequest = false;
Check checkRequest(std::span<const std::uint8_t> pkt, Token& token) noexcept;
Check checkReply(std::span<const std::uint8_t> pkt, Token& token) noexcept;
}  // namespace udpx::raw

// Health probes (probe.h): per-protocol builders and judges.
namespace udpx::ntp {
std::size_t buildProbe(std::uint64_t random, std::span<std::uint8_t> out, Token& token) noexcept;
ProbeJudgement judgeProbeReply(std::span<const std::uint8_t> reply, Token token) noexcept;
}  // namespace udpx::ntp

namespace udpx::dns {
std::size_t buildProbe(std::string_view query, std::uint64_t random, std::span<std::uint8_t> out,
                       Token& token) noexcept;
ProbeJudgement judgeProbeReply(std::span<const std::uint8_t> reply, Token token) noexcept;
}  // namespace udpx::dns

namespace udpx::raw {
std::size_t buildProbe(std::span<const std::uint8_t> send, std::span<std::uint8_t> out) noexcept;
ProbeJudgement judgeProbeReply(std::span<const std::uint8_t> expect, std::span<const std::uint8_t> reply) noexcept;
}  // namespace udpx::raw

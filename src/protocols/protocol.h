// The protocol presets (ntp, dns, syslog, raw): their defaults and packet validators.
// This is the only place in udpx that knows packet formats.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace udpx {

enum class Preset : std::uint8_t { Raw, Ntp, Dns, Syslog };

inline constexpr std::uint32_t kUnlimitedResponses = UINT32_MAX;

// What a preset implies when the config does not say otherwise.
struct PresetDefaults {
  std::string_view name;
  std::uint16_t port;                     // 0: no default, the config must give one
  std::uint32_t responses;                // replies per request; 0 one-way; kUnlimitedResponses
  std::chrono::milliseconds session_timeout;
  std::uint32_t max_datagram;             // larger datagrams are dropped (both directions)
};

const PresetDefaults& presetDefaults(Preset p) noexcept;
std::optional<Preset> presetFromName(std::string_view name) noexcept;

// Verdict of a validator. Everything but Ok is a drop with a counter named after it.
enum class Check : std::uint8_t {
  Ok,
  Malformed,   // too short, bad length, bad version: not this protocol
  WrongKind,   // well-formed but the wrong direction/kind (NTP mode 4 sent as request, DNS QR=1)
  Control,     // a control/management query refused by policy (NTP mode 6 ntpq, mode 7 monlist)
};

// Identifies a request so a reply can be matched to it: the NTP transmit timestamp
// (echoed as the reply's origin timestamp), the DNS ID. 0 for protocols without one.
using Token = std::uint64_t;

// Validates a client datagram. On Ok, `token` identifies the request.
Check checkRequest(Preset p, std::span<const std::uint8_t> pkt, Token& token) noexcept;

// Validates an upstream datagram. On Ok, `token` is the token of the request it answers
// (compare with the pending requests' tokens when usesTokens(p)).
Check checkReply(Preset p, std::span<const std::uint8_t> pkt, Token& token) noexcept;

// True if replies must match a pending request's token (ntp, dns).
bool usesTokens(Preset p) noexcept;

// True if a reply may not be longer than the request it answers (ntp: an amplification guard).
bool repliesBoundedByRequest(Preset p) noexcept;

}  // namespace udpx

// The probe types' names, the probe lookup, and the probe of None (no probe at all); each
// protocol's probe lives in its own file.
#include "protocols/probe.h"

#include <cstring>

#include <array>

namespace udpx {
namespace {

bool never(const ProbeSpec& /*spec*/) noexcept { return false; }

std::size_t buildNothing(const ProbeSpec& /*spec*/, std::uint64_t /*random*/, std::span<std::uint8_t> /*out*/,
                         Token& /*token*/) noexcept {
  return 0;
}

ProbeJudgement ignore(const ProbeSpec& /*spec*/, std::span<const std::uint8_t> /*reply*/, Token /*token*/) noexcept {
  return {};
}

// None has no probe; its interval only paces passive recovery.
constexpr Probe kNoProbe{
    .type = ProbeType::None,
    .defaults = {std::chrono::seconds{10}, std::chrono::seconds{1}, 1, 3},
    .no_reply_hint = kNoReplyHint,
    .refused_hint = kRefusedHint,
    .active = never,
    .build = buildNothing,
    .judge = ignore,
};

constexpr auto kNames = [] {
  std::array<std::string_view, std::size(kProbeTypeNames)> out;
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = kProbeTypeNames[i].name;
  return out;
}();

}  // namespace

std::string_view probeTypeName(ProbeType t) noexcept {
  for (const ProbeTypeName& n : kProbeTypeNames) {
    if (n.type == t && !n.alias) return n.name;
  }
  return t == ProbeType::None ? std::string_view{} : probeTypeName(ProbeType::None);  // a bad value: none
}

std::optional<ProbeType> probeTypeFromName(std::string_view name) noexcept {
  for (const ProbeTypeName& n : kProbeTypeNames) {
    if (n.name == name) return n.type;
  }
  return std::nullopt;
}

std::span<const std::string_view> probeTypeNames() noexcept { return kNames; }

const Probe& probeOf(ProbeType t) noexcept {
  for (const Protocol* p : protocols()) {
    if (p->probe != nullptr && p->probe->type == t) return *p->probe;
  }
  return kNoProbe;
}

std::optional<std::vector<std::uint8_t>> parseHex(std::string_view text) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<std::uint8_t> out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text[i] == ' ' || text[i] == ':') {
      ++i;
      continue;
    }
    if (i + 1 >= text.size()) return std::nullopt;
    const int hi = nibble(text[i]);
    const int lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

std::size_t frameTcpProbe(std::span<std::uint8_t> out, std::size_t len) noexcept {
  if (out.size() < len + 2 || len > 0xffff) return 0;
  std::memmove(out.data() + 2, out.data(), len);
  out[0] = static_cast<std::uint8_t>(len >> 8);
  out[1] = static_cast<std::uint8_t>(len & 0xff);
  return len + 2;
}

std::span<const std::uint8_t> tcpProbeAnswer(std::span<const std::uint8_t> in) noexcept {
  if (in.size() < 2) return {};
  const std::size_t len = (std::size_t{in[0]} << 8) | in[1];
  if (in.size() < len + 2) return {};
  return in.subspan(2, len);
}

}  // namespace udpx

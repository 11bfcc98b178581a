// Dispatches probe.h's calls to the per-protocol probe builders and judges, and holds the
// health-check defaults of each probe type.
#include "protocols/probe.h"

#include "protocols/validators.h"

namespace udpx {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// NTP servers rate-limit (ntpd's `limited`, chrony's `ratelimit`), so NTP is asked rarely;
// a resolver is cheap to ask. None has no probe; its interval only paces passive recovery.
constexpr ProbeDefaults kNtpDefaults{seconds{10}, seconds{1}, 2, 3};
constexpr ProbeDefaults kDnsDefaults{seconds{5}, seconds{1}, 2, 3};
constexpr ProbeDefaults kRawDefaults{seconds{5}, seconds{1}, 2, 3};
constexpr ProbeDefaults kNoneDefaults{seconds{10}, seconds{1}, 1, 3};

}  // namespace

std::string_view probeTypeName(ProbeType t) noexcept {
  switch (t) {
    case ProbeType::None: return "none";
    case ProbeType::Ntp: return "ntp";
    case ProbeType::Dns: return "dns";
    case ProbeType::Raw: return "raw";
  }
  return "none";
}

std::optional<ProbeType> probeTypeFromName(std::string_view name) noexcept {
  if (name == "none" || name == "syslog") return ProbeType::None;
  if (name == "ntp") return ProbeType::Ntp;
  if (name == "dns") return ProbeType::Dns;
  if (name == "raw") return ProbeType::Raw;
  return std::nullopt;
}

ProbeType defaultProbeType(Preset p) noexcept {
  switch (p) {
    case Preset::Ntp: return ProbeType::Ntp;
    case Preset::Dns: return ProbeType::Dns;
    case Preset::Syslog: return ProbeType::None;
    case Preset::Raw: return ProbeType::None;
  }
  return ProbeType::None;
}

const ProbeDefaults& probeDefaults(ProbeType t) noexcept {
  switch (t) {
    case ProbeType::Ntp: return kNtpDefaults;
    case ProbeType::Dns: return kDnsDefaults;
    case ProbeType::Raw: return kRawDefaults;
    case ProbeType::None: break;
  }
  return kNoneDefaults;
}

bool probeIsActive(const ProbeSpec& spec) noexcept {
  switch (spec.type) {
    case ProbeType::Ntp:
    case ProbeType::Dns: return true;
    case ProbeType::Raw: return !spec.send.empty();
    case ProbeType::None: break;
  }
  return false;
}

std::size_t buildProbe(const ProbeSpec& spec, std::uint64_t random, std::span<std::uint8_t> out,
                       Token& token) noexcept {
  token = 0;
  switch (spec.type) {
    case ProbeType::Ntp: return ntp::buildProbe(random, out, token);
    case ProbeType::Dns: return dns::buildProbe(spec.query, random, out, token);
    case ProbeType::Raw: return raw::buildProbe(spec.send, out);
    case ProbeType::None: break;
  }
  return 0;
}

ProbeJudgement judgeProbeReply(const ProbeSpec& spec, std::span<const std::uint8_t> reply, Token token) noexcept {
  switch (spec.type) {
    case ProbeType::Ntp: return ntp::judgeProbeReply(reply, token);
    case ProbeType::Dns: return dns::judgeProbeReply(reply, token);
    case ProbeType::Raw: return raw::judgeProbeReply(spec.expect, reply);
    case ProbeType::None: break;
  }
  return {};
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

}  // namespace udpx

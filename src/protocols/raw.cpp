// The raw protocol: opaque datagrams forwarded as they are, in both directions, with no token;
// its probe sends a configured payload and may expect a reply prefix.
#include "protocols/probe.h"

namespace udpx::raw {
namespace {

using std::chrono::seconds;

// Empty datagrams are valid UDP and some protocols use them (keepalives), so nothing is
// refused, in either direction.
Check accept(std::span<const std::uint8_t> /*pkt*/, Token& token) noexcept {
  token = 0;
  return Check::Ok;
}

// ---- health probe: the configured payload, and an optional expected reply prefix ----

bool hasPayload(const ProbeSpec& spec) noexcept { return !spec.send.empty(); }

std::size_t buildProbe(const ProbeSpec& spec, std::uint64_t /*random*/, std::span<std::uint8_t> out,
                       Token& /*token*/) noexcept {
  const std::span<const std::uint8_t> send = spec.send;
  if (send.size() > out.size()) return 0;
  for (std::size_t i = 0; i < send.size(); ++i) out[i] = send[i];
  return send.size();
}

ProbeJudgement judgeProbeReply(const ProbeSpec& spec, std::span<const std::uint8_t> reply, Token /*token*/) noexcept {
  const std::span<const std::uint8_t> expect = spec.expect;
  bool match = reply.size() >= expect.size();
  for (std::size_t i = 0; match && i < expect.size(); ++i) match = reply[i] == expect[i];
  if (!match) {
    return {ProbeVerdict::Unhealthy, "the reply does not start with the expected bytes (health.expect)",
            "check health.send and health.expect against what the server really answers"};
  }
  return {ProbeVerdict::Healthy, "", ""};
}

constexpr Probe kProbe{
    .type = ProbeType::Raw,
    .defaults = {seconds{5}, seconds{1}, 2, 3},
    .no_reply_hint = kNoReplyHint,
    .refused_hint = kRefusedHint,
    .active = hasPayload,
    .build = buildProbe,
    .judge = judgeProbeReply,
};

}  // namespace

// raw cannot know the protocol, so it allows any number of replies and the largest UDP payload
// over IPv4 (65535 - 8 UDP - 20 IP). Its probe needs a payload, so the preset implies none.
constexpr Protocol kProtocol{
    .preset = Preset::Raw,
    .defaults = {"raw", 0, kUnlimitedResponses, seconds{60}, 65507},
    .check_request = accept,
    .check_reply = accept,
    .token_field = {},
    .replies_bounded_by_request = false,
    .probe = &kProbe,
    .default_probe = ProbeType::None,
};

}  // namespace udpx::raw

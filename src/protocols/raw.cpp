// Raw: opaque datagrams forwarded as they are, in both directions, with no token.
#include "protocols/validators.h"

namespace udpx::raw {

// Empty datagrams are valid UDP and some protocols use them (keepalives), so nothing is refused.
Check checkRequest(std::span<const std::uint8_t> /*pkt*/, Token& token) noexcept {
  token = 0;
  return Check::Ok;
}

Check checkReply(std::span<const std::uint8_t> /*pkt*/, Token& token) noexcept {
  token = 0;
  return Check::Ok;
}

// ---- health probe: the configured payload, and an optional expected reply prefix ----

std::size_t buildProbe(std::span<const std::uint8_t> send, std::span<std::uint8_t> out) noexcept {
  if (send.size() > out.size()) return 0;
  for (std::size_t i = 0; i < send.size(); ++i) out[i] = send[i];
  return send.size();
}

ProbeJudgement judgeProbeReply(std::span<const std::uint8_t> expect, std::span<const std::uint8_t> reply) noexcept {
  bool match = reply.size() >= expect.size();
  for (std::size_t i = 0; match && i < expect.size(); ++i) match = reply[i] == expect[i];
  if (!match) {
    return {ProbeVerdict::Unhealthy, "the reply does not start with the expected bytes (health.expect)",
            "check health.send and health.expect against what the server really answers"};
  }
  return {ProbeVerdict::Healthy, "", ""};
}

}  // namespace udpx::raw

// The syslog protocol over UDP (RFC 5426): one message per datagram, one-way, no token, no probe.
#include "protocols/probe.h"

namespace udpx::syslog {
namespace {

// The content is not parsed: RFC 3164 senders are too varied, and an empty datagram is the
// only thing that is certainly not a message.
Check checkRequest(std::span<const std::uint8_t> pkt, Token& token) noexcept {
  if (pkt.empty()) return Check::Malformed;
  token = 0;
  return Check::Ok;
}

// Syslog is one-way; the preset's response budget of 0 drops replies in the session, where
// the drop is counted, so the check itself has nothing to refuse.
Check checkReply(std::span<const std::uint8_t> /*pkt*/, Token& token) noexcept {
  token = 0;
  return Check::Ok;
}

}  // namespace

// A syslog server never answers, so there is nothing to probe: health comes from passive
// signals (ICMP port unreachable) only.
constexpr Protocol kProtocol{
    .preset = Preset::Syslog,
    .defaults = {"syslog", 514, 0, std::chrono::seconds{60}, 8192},
    .check_request = checkRequest,
    .check_reply = checkReply,
    .token_field = {},
    .replies_bounded_by_request = false,
    .probe = nullptr,
    .default_probe = ProbeType::None,
};

}  // namespace udpx::syslog

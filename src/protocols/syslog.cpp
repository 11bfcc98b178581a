// Syslog over UDP (RFC 5426) validation: one message per datagram, one-way, no token.
#include "protocols/validators.h"

namespace udpx::syslog {

// The content is not parsed: RFC 3164 senders are too varied, and an empty datagram is the
// only thing that is certainly not a message.
Check checkRequest(std::span<const std::uint8_t> pkt, Token& token) noexcept {
  if (pkt.empty()) return Check::Malformed;
  token = 0;
  return Check::Ok;
}

// Syslog is one-way; the preset's response budget of 0 drops replies in the session, where
// the drop is counted, so the validator itself has nothing to refuse.
Check checkReply(std::span<const std::uint8_t> /*pkt*/, Token& token) noexcept {
  token = 0;
  return Check::Ok;
}

}  // namespace udpx::syslog

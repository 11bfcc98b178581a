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

}  // namespace udpx::raw

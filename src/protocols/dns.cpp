// DNS (RFC 1035) validation: a 12-byte header whose QR bit says query (client) or response
// (upstream); the 16-bit ID is the token that pairs them.
#include "protocols/validators.h"

namespace udpx::dns {
namespace {

constexpr std::size_t kHeaderLen = 12;
constexpr std::size_t kIdAt = 0;
constexpr std::size_t kFlagsAt = 2;
constexpr std::uint8_t kQrBit = 0x80;  // in the first flags byte: 0 query, 1 response

}  // namespace

Check checkRequest(std::span<const std::uint8_t> pkt, Token& token) noexcept {
  if (pkt.size() < kHeaderLen) return Check::Malformed;
  if ((pkt[kFlagsAt] & kQrBit) != 0) return Check::WrongKind;
  token = wire::readBe16(pkt, kIdAt);
  return Check::Ok;
}

Check checkReply(std::span<const std::uint8_t> pkt, Token& token) noexcept {
  if (pkt.size() < kHeaderLen) return Check::Malformed;
  if ((pkt[kFlagsAt] & kQrBit) == 0) return Check::WrongKind;
  token = wire::readBe16(pkt, kIdAt);
  return Check::Ok;
}

}  // namespace udpx::dns

// NTP (RFC 5905) validation: forward only client requests (mode 3) and server replies (mode 4);
// refuse the control modes 6 (ntpq) and 7 (ntpdc monlist, the amplification vector).
#include "protocols/validators.h"

namespace udpx::ntp {
namespace {

constexpr std::size_t kHeaderLen = 48;          // without extension fields or MAC
constexpr std::size_t kOriginTimestampAt = 24;  // a reply echoes the request's transmit timestamp here
constexpr std::size_t kTransmitTimestampAt = 40;

constexpr std::uint8_t kModeClient = 3;
constexpr std::uint8_t kModeServer = 4;
constexpr std::uint8_t kModeControl = 6;  // ntpq
constexpr std::uint8_t kModePrivate = 7;  // ntpdc, monlist

// Byte 0 is LI(2) VN(3) Mode(3).
std::uint8_t modeOf(std::span<const std::uint8_t> pkt) noexcept {
  return static_cast<std::uint8_t>(pkt[0] & 0x07);
}

std::uint8_t versionOf(std::span<const std::uint8_t> pkt) noexcept {
  return static_cast<std::uint8_t>((pkt[0] >> 3) & 0x07);
}

// Length and version checks shared by both directions. Extension fields and MACs keep the
// length a multiple of 4, so anything else is not NTP.
bool wellFormed(std::span<const std::uint8_t> pkt) noexcept {
  if (pkt.size() < kHeaderLen || pkt.size() % 4 != 0) return false;
  const std::uint8_t version = versionOf(pkt);
  return version >= 1 && version <= 4;
}

}  // namespace

Check checkRequest(std::span<const std::uint8_t> pkt, Token& token) noexcept {
  if (pkt.empty()) return Check::Malformed;
  // Mode first: control queries are refused by policy whatever their length, and a short
  // monlist probe must be counted as Control, not hidden among Malformed.
  const std::uint8_t mode = modeOf(pkt);
  if (mode == kModeControl || mode == kModePrivate) return Check::Control;
  if (!wellFormed(pkt)) return Check::Malformed;
  if (mode != kModeClient) return Check::WrongKind;
  token = wire::readBe64(pkt, kTransmitTimestampAt);
  return Check::Ok;
}

Check checkReply(std::span<const std::uint8_t> pkt, Token& token) noexcept {
  if (!wellFormed(pkt)) return Check::Malformed;
  if (modeOf(pkt) != kModeServer) return Check::WrongKind;
  token = wire::readBe64(pkt, kOriginTimestampAt);
  return Check::Ok;
}

}  // namespace udpx::ntp

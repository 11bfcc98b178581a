// nts-ke: the NTS key exchange (RFC 8915), TLS on TCP port 4460, relayed untouched by a frontend's
// TcpRelay: udpx terminates no TLS and sees no keys. TCP only: no datagram is ever accepted.
// Pair it with an ntp frontend to the same servers, which forwards the NTS-authenticated NTP
// requests (longer than 48 bytes: extension fields) byte for byte.
#include "protocols/probe.h"
#include "protocols/protocol.h"

namespace udpx::nts_ke {
namespace {

using std::chrono::seconds;

Check refuse(std::span<const std::uint8_t> /*pkt*/, Token& /*token*/) noexcept { return Check::Malformed; }

}  // namespace

constexpr Protocol kProtocol{
    .preset = Preset::NtsKe,
    .defaults = {"nts-ke", 4460, 0, seconds{60}, 1},
    .check_request = refuse,
    .check_reply = refuse,
    .token_field = {},
    .replies_bounded_by_request = false,
    .probe = nullptr,
    .default_probe = ProbeType::None,
    .tcp_default = true,
    .tcp_only = true,
};

}  // namespace udpx::nts_ke

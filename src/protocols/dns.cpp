// The dns protocol (RFC 1035): a 12-byte header whose QR bit says query (client) or response
// (upstream); the 16-bit ID is the token that pairs them. Its probe asks a resolver a question.
#include "protocols/probe.h"
#include "protocols/wire.h"

namespace udpx::dns {
namespace {

using std::chrono::seconds;

constexpr std::size_t kHeaderLen = 12;
constexpr std::size_t kIdAt = 0;
constexpr std::size_t kFlagsAt = 2;
constexpr std::uint8_t kQrBit = 0x80;  // in the first flags byte: 0 query, 1 response
constexpr std::uint8_t kTcBit = 0x02;  // in the first flags byte: the answer did not fit (RFC 1035 4.1.1)
constexpr TokenField kToken{2, kIdAt, kIdAt};

// Both directions have the same header; only the QR bit tells them apart.
Check checkHeader(std::span<const std::uint8_t> pkt, Token& token, bool response) noexcept {
  if (pkt.size() < kHeaderLen) return Check::Malformed;
  if (((pkt[kFlagsAt] & kQrBit) != 0) != response) return Check::WrongKind;
  token = wire::readBe(pkt, kToken.request_at, kToken.size);
  return Check::Ok;
}

Check checkRequest(std::span<const std::uint8_t> pkt, Token& token) noexcept {
  return checkHeader(pkt, token, false);
}

Check checkReply(std::span<const std::uint8_t> pkt, Token& token) noexcept {
  return checkHeader(pkt, token, true);
}

// The answer did not fit the client's UDP buffer (its EDNS size, or 512 bytes): the client is
// meant to ask again over TCP (RFC 7766), which udpx does not relay.
bool replyTruncated(std::span<const std::uint8_t> pkt) noexcept {
  return pkt.size() >= kHeaderLen && (pkt[kFlagsAt] & kTcBit) != 0;
}

// ---- shared upstream sockets ----
// The query ID becomes a random free one on the shared socket (dnsdist does the same), and
// the response gets the client's back.

void chooseShared(std::span<const std::uint8_t> /*req*/, Token request_token, Token random, SharedToken& st) noexcept {
  st = SharedToken{};
  st.original = request_token;
  st.key = random & 0xffff;
  st.flags = kSharedRewritten;
}

void applyShared(std::span<std::uint8_t> req, const SharedToken& st) noexcept {
  if (req.size() >= kHeaderLen) wire::writeBe(req, kIdAt, 2, st.key);
}

void restoreShared(std::span<std::uint8_t> reply, const SharedToken& st, bool /*alt*/) noexcept {
  if (reply.size() >= kHeaderLen) wire::writeBe(reply, kIdAt, 2, st.original);
}

constexpr SharedTokenHooks kShared{chooseShared, applyShared, nullptr, restoreShared};

// ---- health probe ----

constexpr std::uint16_t kTypeA = 1;
constexpr std::uint16_t kTypeNs = 2;
constexpr std::uint16_t kClassIn = 1;
constexpr std::uint8_t kRcodeServfail = 2;
constexpr std::uint8_t kRcodeRefused = 5;

void putBe16(std::span<std::uint8_t> out, std::size_t at, std::uint16_t v) noexcept { wire::writeBe(out, at, 2, v); }

bool alwaysActive(const ProbeSpec& /*spec*/) noexcept { return true; }

std::size_t buildProbe(const ProbeSpec& spec, std::uint64_t random, std::span<std::uint8_t> out,
                       Token& token) noexcept {
  std::string_view query = spec.query;
  if (!query.empty() && query.back() == '.') query.remove_suffix(1);
  // header + name (at most 255 bytes encoded) + type + class
  if (out.size() < kHeaderLen + 255 + 4 || query.size() > 253) return 0;
  const auto id = static_cast<std::uint16_t>(random);
  putBe16(out, kIdAt, id);
  putBe16(out, kFlagsAt, 0x0100);  // a standard query, recursion desired
  putBe16(out, 4, 1);              // one question
  putBe16(out, 6, 0);
  putBe16(out, 8, 0);
  putBe16(out, 10, 0);
  std::size_t at = kHeaderLen;
  std::size_t start = 0;
  while (start < query.size()) {
    std::size_t end = query.find('.', start);
    if (end == std::string_view::npos) end = query.size();
    const std::size_t len = end - start;
    if (len == 0 || len > 63) return 0;
    out[at++] = static_cast<std::uint8_t>(len);
    for (std::size_t i = start; i < end; ++i) out[at++] = static_cast<std::uint8_t>(query[i]);
    start = end + 1;
  }
  out[at++] = 0;
  // The root's NS set is what every resolver can answer; a named probe asks for its address.
  putBe16(out, at, query.empty() ? kTypeNs : kTypeA);
  putBe16(out, at + 2, kClassIn);
  token = id;
  return at + 4;
}

ProbeJudgement judgeProbeReply(const ProbeSpec& /*spec*/, std::span<const std::uint8_t> reply, Token token) noexcept {
  Token id = 0;
  if (checkReply(reply, id) != Check::Ok) {
    return {ProbeVerdict::Unhealthy, "the reply is not a DNS response",
            "is this address and port really a DNS server?"};
  }
  if (id != token) return {};
  const auto rcode = static_cast<std::uint8_t>(reply[kFlagsAt + 1] & 0x0F);
  if (rcode == kRcodeRefused) {
    return {ProbeVerdict::Unhealthy, "the resolver answered REFUSED",
            "the resolver's ACL refuses this host: allow it (bind: allow-query/allow-recursion, unbound: "
            "access-control, dnsmasq: --listen-address/--interface), or it has no upstream for the probe's "
            "query (set health.query to a name it serves)"};
  }
  if (rcode == kRcodeServfail) {
    return {ProbeVerdict::Unhealthy, "the resolver answered SERVFAIL",
            "it cannot resolve the probe's query: check its upstream servers and DNSSEC, or set "
            "health.query to a name it serves"};
  }
  return {ProbeVerdict::Healthy, "", ""};
}

// A resolver is cheap to ask.
constexpr Probe kProbe{
    .type = ProbeType::Dns,
    .defaults = {seconds{5}, seconds{1}, 2, 3},
    .no_reply_hint = "is it running, and does it allow queries from this host? (bind: allow-query, unbound: "
                     "access-control, dnsmasq: --listen-address)",
    .refused_hint = "start the DNS server, or let it listen on that address (dnsmasq: --listen-address, "
                    "--interface; unbound: interface, access-control)",
    .active = alwaysActive,
    .build = buildProbe,
    .judge = judgeProbeReply,
};

}  // namespace

// dns answers once per request, within milliseconds; answers are often longer than questions,
// so their length is bounded by max_datagram only.
constexpr Protocol kProtocol{
    .preset = Preset::Dns,
    .defaults = {"dns", 53, 1, seconds{5}, 4096},
    .check_request = checkRequest,
    .check_reply = checkReply,
    .token_field = kToken,
    .replies_bounded_by_request = false,
    .probe = &kProbe,
    .default_probe = ProbeType::Dns,
    .reply_truncated = replyTruncated,
    .shared_token = &kShared,
    // A resolver forwarding for a whole network asks far more often than one host.
    .rate = {.per_minute = 500 * 60, .burst = 1000, .prefix_per_minute = 5000 * 60, .prefix_burst = 10000},
    .tcp_default = true,
};

}  // namespace udpx::dns

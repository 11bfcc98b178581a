// The ntp protocol (RFC 5905): forward only client requests (mode 3) and server replies (mode 4);
// refuse the control modes 6 (ntpq) and 7 (ntpdc monlist, the amplification vector). Its probe.
#include "protocols/probe.h"
#include "protocols/wire.h"

namespace udpx::ntp {
namespace {

using std::chrono::seconds;

constexpr std::size_t kHeaderLen = 48;          // without extension fields or MAC
constexpr std::size_t kOriginTimestampAt = 24;  // a reply echoes the request's transmit timestamp here
constexpr std::size_t kTransmitTimestampAt = 40;
constexpr TokenField kToken{8, kTransmitTimestampAt, kOriginTimestampAt};

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

Check checkRequest(std::span<const std::uint8_t> pkt, Token& token) noexcept {
  if (pkt.empty()) return Check::Malformed;
  // Mode first: control queries are refused by policy whatever their length, and a short
  // monlist probe must be counted as Control, not hidden among Malformed.
  const std::uint8_t mode = modeOf(pkt);
  if (mode == kModeControl || mode == kModePrivate) return Check::Control;
  if (!wellFormed(pkt)) return Check::Malformed;
  if (mode != kModeClient) return Check::WrongKind;
  token = wire::readBe(pkt, kToken.request_at, kToken.size);
  return Check::Ok;
}

Check checkReply(std::span<const std::uint8_t> pkt, Token& token) noexcept {
  if (!wellFormed(pkt)) return Check::Malformed;
  if (modeOf(pkt) != kModeServer) return Check::WrongKind;
  token = wire::readBe(pkt, kToken.reply_at, kToken.size);
  return Check::Ok;
}

// ---- shared upstream sockets ----
// A plain 48-byte request gets a random transmit timestamp (a cookie: servers only copy it into
// the reply's origin) and the reply gets the client's back. A longer one carries extension
// fields or a MAC computed over the header (NTS, symmetric keys), so it passes byte for byte
// and is known by the client's own transmit timestamp.
// Interleaved replies (chrony xleave, RFC 9769) echo the request's receive timestamp instead:
// a 48-byte request's receive timestamp becomes the cookie XOR kAltMask (the cookie itself
// when it equalled the transmit timestamp, which tells the server "basic mode"), so a reply
// whose origin is unknown is looked up once more under origin XOR kAltMask. A long request's
// receive timestamp cannot change (the MAC covers it): it is a second key of its own
// (kSharedOwnAlt), unless it is 0 or equals the transmit timestamp (no interleaved reply).
constexpr std::size_t kReceiveTimestampAt = 32;
constexpr Token kAltMask = 0x5a5a'a5a5'c3c3'3c3cULL;

void chooseShared(std::span<const std::uint8_t> req, Token request_token, Token random, SharedToken& st) noexcept {
  st = SharedToken{};
  st.original = request_token;
  const Token rx = wire::readBe(req, kReceiveTimestampAt, 8);
  if (req.size() != kHeaderLen) {
    st.key = request_token;
    if (rx != 0 && rx != request_token) {
      st.original_alt = rx;
      st.flags = kSharedOwnAlt;
    }
    return;
  }
  // 0 means "no request" to a server, and its XOR would be kAltMask, a guessable key.
  if (random == 0 || random == kAltMask) random = 1;
  st.key = random;
  st.flags = kSharedRewritten;
  if (rx != 0) {
    st.original_alt = rx;
    st.flags |= kSharedAlt;
  }
}

void applyShared(std::span<std::uint8_t> req, const SharedToken& st) noexcept {
  if ((st.flags & kSharedRewritten) == 0 || req.size() < kHeaderLen) return;
  wire::writeBe(req, kTransmitTimestampAt, 8, st.key);
  if ((st.flags & kSharedAlt) != 0) {
    wire::writeBe(req, kReceiveTimestampAt, 8, st.original_alt == st.original ? st.key : st.key ^ kAltMask);
  }
}

Token altKey(Token reply_token) noexcept { return reply_token ^ kAltMask; }

void restoreShared(std::span<std::uint8_t> reply, const SharedToken& st, bool alt) noexcept {
  if ((st.flags & kSharedRewritten) == 0 || reply.size() < kHeaderLen) return;
  wire::writeBe(reply, kOriginTimestampAt, 8, alt ? st.original_alt : st.original);
}

constexpr SharedTokenHooks kShared{chooseShared, applyShared, altKey, restoreShared};

// ---- rate limiting: the RATE kiss-o'-death (RFC 5905 section 7.4) ----

constexpr std::uint64_t kUnixToNtpSeconds = 2208988800ull;  // 1900-01-01 to 1970-01-01
constexpr std::size_t kPollAt = 2;

std::uint64_t ntpTimestamp(std::int64_t unix_ns) noexcept {
  const auto ns = static_cast<std::uint64_t>(unix_ns < 0 ? 0 : unix_ns);
  const std::uint64_t secs = ns / 1000000000ull + kUnixToNtpSeconds;
  const std::uint64_t fraction = ((ns % 1000000000ull) << 32) / 1000000000ull;
  return (secs << 32) | fraction;
}

// Leap 3 (unsynchronised), the request's version, mode 4, stratum 0, reference ID "RATE", the
// request's poll, origin = the request's transmit timestamp. Receive and transmit carry the
// time: a client (chrony) acts on a kiss-o'-death only when they are set and new, as in any
// valid reply. 48 bytes: never longer than the request (check_request wants 48 or more).
std::size_t buildRateKiss(std::span<const std::uint8_t> request, std::span<std::uint8_t> out,
                          std::int64_t unix_ns) noexcept {
  if (request.size() < kHeaderLen || out.size() < kHeaderLen) return 0;
  for (std::size_t i = 0; i < kHeaderLen; ++i) out[i] = 0;
  out[0] = static_cast<std::uint8_t>((3u << 6) | (versionOf(request) << 3) | kModeServer);
  out[kPollAt] = request[kPollAt];
  out[12] = 'R';
  out[13] = 'A';
  out[14] = 'T';
  out[15] = 'E';
  for (std::size_t i = 0; i < 8; ++i) out[kOriginTimestampAt + i] = request[kTransmitTimestampAt + i];
  const std::uint64_t now = ntpTimestamp(unix_ns);
  wire::writeBe(out, kReceiveTimestampAt, 8, now);
  wire::writeBe(out, kTransmitTimestampAt, 8, now);
  return kHeaderLen;
}

// ---- health probe ----

constexpr std::size_t kStratumAt = 1;
constexpr std::size_t kRefIdAt = 12;
constexpr std::uint8_t kLeapUnsynchronised = 3;
constexpr std::uint8_t kStratumUnsynchronised = 16;

constexpr std::string_view kNotSyncHint =
    "it has no usable time source, so clients would reject its time: check its sources "
    "(chronyc sources -v; ntpq -p), or give it a local reference (chrony: `local stratum 10`)";

bool kissCodeIs(std::span<const std::uint8_t> pkt, std::string_view code) noexcept {
  for (std::size_t i = 0; i < 4; ++i) {
    if (pkt[kRefIdAt + i] != static_cast<std::uint8_t>(code[i])) return false;
  }
  return true;
}

bool alwaysActive(const ProbeSpec& /*spec*/) noexcept { return true; }

std::size_t buildProbe(const ProbeSpec& /*spec*/, std::uint64_t random, std::span<std::uint8_t> out,
                       Token& token) noexcept {
  if (out.size() < kHeaderLen) return 0;
  for (std::size_t i = 0; i < kHeaderLen; ++i) out[i] = 0;
  // LI 0, version 4, mode 3; like chrony, the transmit timestamp is random rather than the
  // clock: it is only the request's identity, and it reveals nothing about this host.
  out[0] = static_cast<std::uint8_t>((4 << 3) | kModeClient);
  // A zero timestamp would make the reply's origin 0, which servers treat as "no request".
  if (random == 0) random = 1;
  wire::writeBe(out, kToken.request_at, kToken.size, random);
  token = random;
  return kHeaderLen;
}

ProbeJudgement judgeProbeReply(const ProbeSpec& /*spec*/, std::span<const std::uint8_t> reply, Token token) noexcept {
  Token origin = 0;
  const Check c = checkReply(reply, origin);
  if (c != Check::Ok) {
    return {ProbeVerdict::Unhealthy, "the reply is not an NTP server reply (mode 4)",
            "is this address and port really an NTP server?"};
  }
  // A reply (a kiss-o'-death included) that does not echo our transmit timestamp answers
  // someone else's request, or is forged: it says nothing about this probe.
  if (origin != token) return {};
  const std::uint8_t leap = static_cast<std::uint8_t>(reply[0] >> 6);
  const std::uint8_t stratum = reply[kStratumAt];
  if (stratum == 0) {
    if (kissCodeIs(reply, "DENY") || kissCodeIs(reply, "RSTR")) {
      return {ProbeVerdict::Refuses, "the server refuses this host (kiss-o'-death DENY/RSTR)",
              "its access rules deny this host: allow it on the server (chrony: `allow`, ntpd: `restrict`)"};
    }
    if (kissCodeIs(reply, "RATE")) {
      return {ProbeVerdict::SlowDown, "the server asks to be queried less often (kiss-o'-death RATE)",
              "udpx probes it less often now; raise health.interval, or relax the server's rate limit "
              "(chrony: `ratelimit`, ntpd: `discard`)"};
    }
    return {ProbeVerdict::Unhealthy, "the server is not synchronised (stratum 0)", kNotSyncHint};
  }
  if (leap == kLeapUnsynchronised) {
    return {ProbeVerdict::Unhealthy, "the server is not synchronised (leap indicator 3)", kNotSyncHint};
  }
  if (stratum >= kStratumUnsynchronised) {
    return {ProbeVerdict::Unhealthy, "the server is not synchronised (stratum 16)", kNotSyncHint};
  }
  return {ProbeVerdict::Healthy, "", ""};
}

// NTP servers rate-limit (ntpd's `limited`, chrony's `ratelimit`), so NTP is asked rarely.
constexpr Probe kProbe{
    .type = ProbeType::Ntp,
    .defaults = {seconds{10}, seconds{1}, 2, 3},
    .no_reply_hint = "is it running, and does it allow queries from this host? (chrony: `allow`, ntpd: `restrict`)",
    // chrony without any `allow` line is a client only and opens no NTP port at all.
    .refused_hint = "start the NTP server; chrony serves no NTP at all without an `allow` line for this host "
                    "(ntpd: check its `restrict` lines)",
    .active = alwaysActive,
    .build = buildProbe,
    .judge = judgeProbeReply,
};

}  // namespace

// ntp answers once per request, within milliseconds, so a session need not outlive the
// exchange by much. A reply longer than its request would make udpx an amplifier.
constexpr Protocol kProtocol{
    .preset = Preset::Ntp,
    .defaults = {"ntp", 123, 1, seconds{2}, 2048},
    .check_request = checkRequest,
    .check_reply = checkReply,
    .token_field = kToken,
    .replies_bounded_by_request = true,
    .probe = &kProbe,
    .default_probe = ProbeType::Ntp,
    .shared_token = &kShared,
    // A client polls every 64-1024 s; iburst sends 4-8 requests 2 s apart. Many clients behind
    // one NAT address still stay far below 50/s.
    .rate = {.per_minute = 50 * 60, .burst = 100, .prefix_per_minute = 500 * 60, .prefix_burst = 1000},
    .rate_kiss = buildRateKiss,
};

}  // namespace udpx::ntp

// Health probes: what each protocol sends to ask a server "are you well?", how it judges the
// answer (healthy, unhealthy with a reason and a hint, or not an answer at all), and the
// defaults of the checks. Each Probe is defined with its protocol (src/protocols/<name>.cpp).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/protocol.h"

namespace udpx {

// None: no active probe; the server is judged by passive signals only (ICMP port unreachable
// and unanswered requests on real traffic). syslog never answers, so it is always None.
enum class ProbeType : std::uint8_t { None, Ntp, Dns, Raw };

// health.type's names, in the order config errors list them. An alias parses but is not
// printed: "syslog" names None, as the syslog preset implies no probe.
struct ProbeTypeName {
  std::string_view name;
  ProbeType type;
  bool alias = false;
};
inline constexpr ProbeTypeName kProbeTypeNames[] = {
    {"ntp", ProbeType::Ntp}, {"dns", ProbeType::Dns}, {"raw", ProbeType::Raw},
    {"syslog", ProbeType::None, true}, {"none", ProbeType::None}};

std::string_view probeTypeName(ProbeType t) noexcept;
std::optional<ProbeType> probeTypeFromName(std::string_view name) noexcept;
std::span<const std::string_view> probeTypeNames() noexcept;  // kProbeTypeNames' names, aliases too

// The probe a frontend's preset implies (ntp -> ntp, dns -> dns, syslog and raw -> none).
inline ProbeType defaultProbeType(Preset p) noexcept { return protocolOf(p).default_probe; }

struct ProbeDefaults {
  std::chrono::milliseconds interval;  // between probes
  std::chrono::milliseconds timeout;   // for one reply
  std::uint32_t rise;                  // consecutive successes to come back up
  std::uint32_t fall;                  // consecutive failures to go down
};

struct ProbeSpec {
  ProbeType type = ProbeType::None;
  std::string query = ".";            // dns: the name asked; "." asks for the root NS, others A
  std::vector<std::uint8_t> send;     // raw: the probe's payload (empty: no active probe)
  std::vector<std::uint8_t> expect;   // raw: a healthy reply starts with these bytes (empty: any reply)
};

// Largest probe buildProbe writes (a DNS query for a 253-character name fits with room).
inline constexpr std::size_t kMaxProbeLen = 512;

enum class ProbeVerdict : std::uint8_t {
  Ignore,     // not an answer to this probe (another origin timestamp or ID): keep waiting
  Healthy,
  Unhealthy,  // counts toward `fall`
  Refuses,    // the server says it refuses this host (NTP KoD DENY/RSTR): down at once
  SlowDown,   // the server asks to be asked less often (NTP KoD RATE): alive, probe slower
};

// reason and hint are static text: judging never allocates.
struct ProbeJudgement {
  ProbeVerdict verdict = ProbeVerdict::Ignore;
  std::string_view reason;  // "the server is not synchronised (leap indicator 3)"
  std::string_view hint;    // how to fix it
};

// What a server that never answers is told to check, unless its probe knows better.
inline constexpr std::string_view kNoReplyHint =
    "is it running, and does it accept datagrams from this host? (check its access rules and firewalls)";

// What a server that refuses (ICMP port unreachable: nothing listens on that port) is told to
// check first, unless its probe knows the usual causes for its kind of server.
inline constexpr std::string_view kRefusedHint = "start the server";

// One probe type's behaviour, defined by the protocol it belongs to (None's in probe.cpp).
struct Probe {
  ProbeType type;
  ProbeDefaults defaults;
  std::string_view no_reply_hint;  // for a server that answers neither probes nor traffic
  std::string_view refused_hint;   // for one whose port is closed (then: "or correct the address")
  // True if the spec sends anything (None and raw without `send` do not).
  bool (*active)(const ProbeSpec& spec) noexcept;
  // Writes one probe into `out` (at least kMaxProbeLen bytes), using `random` for its identity
  // (NTP transmit timestamp, DNS ID). Returns its length (0: nothing to send); sets `token`,
  // which identifies it for `judge`, if it has one.
  std::size_t (*build)(const ProbeSpec& spec, std::uint64_t random, std::span<std::uint8_t> out,
                       Token& token) noexcept;
  // Judges a datagram received on the probe's connected socket.
  ProbeJudgement (*judge)(const ProbeSpec& spec, std::span<const std::uint8_t> reply, Token token) noexcept;
};

// The probe of a type: the protocol's that carries it; None's (and a bad value's) sends nothing.
const Probe& probeOf(ProbeType t) noexcept;

// Thin names for callers that hold a ProbeType or a ProbeSpec.
inline const ProbeDefaults& probeDefaults(ProbeType t) noexcept { return probeOf(t).defaults; }
inline bool probeIsActive(const ProbeSpec& spec) noexcept { return probeOf(spec.type).active(spec); }
inline std::size_t buildProbe(const ProbeSpec& spec, std::uint64_t random, std::span<std::uint8_t> out,
                              Token& token) noexcept {
  token = 0;
  return probeOf(spec.type).build(spec, random, out, token);
}
inline ProbeJudgement judgeProbeReply(const ProbeSpec& spec, std::span<const std::uint8_t> reply,
                                      Token token) noexcept {
  return probeOf(spec.type).judge(spec, reply, token);
}

// Probes over TCP (a server used by a frontend with tcp = true, dataplane/tcp_check.h): DNS
// sends its probe framed by its 2-byte length (RFC 1035 4.2.2, RFC 7766) and judges the framed
// answer; the other types only connect.
inline bool probeAsksOverTcp(ProbeType t) noexcept { return t == ProbeType::Dns; }
// Frames the `len`-byte probe at the start of `out` in place (out must hold len + 2). Returns the
// framed length.
std::size_t frameTcpProbe(std::span<std::uint8_t> out, std::size_t len) noexcept;
// The message of a framed answer once `got` bytes of it are in `in`: empty while incomplete.
std::span<const std::uint8_t> tcpProbeAnswer(std::span<const std::uint8_t> in) noexcept;

// "0a1b 2c" -> bytes; spaces and colons between byte pairs are allowed. nullopt: not hex.
std::optional<std::vector<std::uint8_t>> parseHex(std::string_view text);

}  // namespace udpx

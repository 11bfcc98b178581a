// The protocol table: one Protocol per preset (ntp, dns, syslog, raw, nts-ke) with its checks, token,
// probe and defaults, and the lookups from a Preset or a name to it.
//
// src/protocols/ is the only place in udpx that knows packet formats. Everything above it (the
// config loader, the health checks, the data path) asks a Protocol — looked up once, through
// protocolOf() or protocolFromName() — and never looks inside a datagram itself. To add a
// protocol, write src/protocols/<name>.cpp defining `const Protocol <name>::kProtocol` (and its
// Probe, if it has one: then also add the ProbeType and its name in probe.h/probe.cpp), add the
// file to UDPX_HOT_SOURCES in CMakeLists.txt, and add its row to UDPX_PROTOCOLS below: the row
// makes the Preset enumerator, the declaration and the table entry.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace udpx {

// The table's rows: the Preset enumerator and the namespace (= file name) that defines its
// kProtocol. The order is the order config errors list the preset names in.
#define UDPX_PROTOCOLS(ROW) \
  ROW(Ntp, ntp)             \
  ROW(Dns, dns)             \
  ROW(Syslog, syslog)       \
  ROW(Raw, raw)             \
  ROW(NtsKe, nts_ke)

#define UDPX_PRESET_ENUMERATOR(Enumerator, ns) Enumerator,
enum class Preset : std::uint8_t { UDPX_PROTOCOLS(UDPX_PRESET_ENUMERATOR) };
#undef UDPX_PRESET_ENUMERATOR

inline constexpr std::uint32_t kUnlimitedResponses = UINT32_MAX;

// What a preset implies when the config does not say otherwise.
struct PresetDefaults {
  std::string_view name;                  // as the config writes it: "ntp"
  std::uint16_t port;                     // 0: no default, the config must give one
  std::uint32_t responses;                // replies per request; 0 one-way; kUnlimitedResponses
  std::chrono::milliseconds session_timeout;
  std::uint32_t max_datagram;             // larger datagrams are dropped (both directions)
};

// The rate limits a frontend with this preset has unless its config says otherwise: set where a
// normal client never reaches them (per minute; 0: off).
struct RateDefaults {
  std::uint64_t per_minute = 0;  // per client address
  std::uint64_t burst = 0;
  std::uint64_t prefix_per_minute = 0;  // per client prefix (IPv4 /24, IPv6 /56)
  std::uint64_t prefix_burst = 0;
};

// Builds the reply that tells a rate-limited client to slow down (NTP: a RATE kiss-o'-death)
// into `out`, from the request that passed check_request and the wall clock (ns since the
// Unix epoch). Returns its length, never more than the request's; 0: none.
using KissFn = std::size_t (*)(std::span<const std::uint8_t> request, std::span<std::uint8_t> out,
                               std::int64_t unix_ns) noexcept;

// Verdict of a check. Everything but Ok is a drop with a counter named after it.
enum class Check : std::uint8_t {
  Ok,
  Malformed,   // too short, bad length, bad version: not this protocol
  WrongKind,   // well-formed but the wrong direction/kind (NTP mode 4 sent as request, DNS QR=1)
  Control,     // a control/management query refused by policy (NTP mode 6 ntpq, mode 7 monlist)
};

// Identifies a request so a reply can be matched to it: the NTP transmit timestamp
// (echoed as the reply's origin timestamp), the DNS ID. 0 for protocols without one.
using Token = std::uint64_t;

// Where a protocol keeps its token: `size` bytes, big-endian, at `request_at` in a request and
// at `reply_at` in the reply that answers it. size 0: replies do not pair with requests.
struct TokenField {
  std::uint8_t size = 0;
  std::uint16_t request_at = 0;
  std::uint16_t reply_at = 0;
};

// Validates a datagram; on Ok, `token` is its token (0 for protocols without one), else untouched.
using CheckFn = Check (*)(std::span<const std::uint8_t> pkt, Token& token) noexcept;
// True if a reply that passed check_reply says it is cut short (DNS: the TC bit).
using TruncatedFn = bool (*)(std::span<const std::uint8_t> reply) noexcept;

// ---- shared upstream sockets (dataplane/proxy_shared.cpp) ----
// A request bound for a socket other clients share: its token upstream (the in-flight table's
// key) and what the reply gets back in its place.
struct SharedToken {
  Token key = 0;           // the token the request carries upstream
  Token original = 0;      // the client's own token, restored in the reply
  Token original_alt = 0;  // ntp: the client's receive timestamp, which interleaved replies echo
  std::uint8_t flags = 0;  // kShared* below
};
inline constexpr std::uint8_t kSharedRewritten = 1;  // key is ours (random): a busy key may be drawn again
inline constexpr std::uint8_t kSharedAlt = 2;        // a second field carries altKey(key) (ntp receive timestamp)
// original_alt, the client's own and unchanged, is a second key: a reply may carry it in place
// of key (a long ntp request's receive timestamp, which interleaved replies echo).
inline constexpr std::uint8_t kSharedOwnAlt = 4;

// The protocol's part in sharing: choose a token from `random` (a fresh random number) without
// writing, write it, name the second key a reply token may stand for, and restore the client's
// token in a reply matched through `key` (alt: through the second key). A request whose token
// stays its own (kSharedRewritten unset) may name a second key of its own (kSharedOwnAlt):
// the data path indexes it beside the key, and its replies are not rewritten.
struct SharedTokenHooks {
  void (*choose)(std::span<const std::uint8_t> request, Token request_token, Token random, SharedToken& st) noexcept;
  void (*apply)(std::span<std::uint8_t> request, const SharedToken& st) noexcept;
  Token (*alt_key)(Token reply_token) noexcept;  // nullptr: replies have one key only
  void (*restore)(std::span<std::uint8_t> reply, const SharedToken& st, bool alt) noexcept;
};

struct Probe;                          // probe.h
enum class ProbeType : std::uint8_t;   // probe.h

struct Protocol {
  Preset preset;
  PresetDefaults defaults;
  CheckFn check_request;             // a client datagram, before it goes upstream
  CheckFn check_reply;               // an upstream datagram, before it goes back to the client
  TokenField token_field;            // how checks read the token, and where the hooks write it
  bool replies_bounded_by_request;   // a reply may not be longer than its request (amplification)
  const Probe* probe;                // its health probe; nullptr: it has none (syslog never answers)
  ProbeType default_probe;           // the probe a frontend with this preset implies for its backend
  // Replies that tell the client to ask again over TCP (relayed when the frontend has `tcp`);
  // counted as replied_truncated. nullptr: the protocol has no such replies.
  TruncatedFn reply_truncated = nullptr;
  // Shared upstream sockets: nullptr for protocols whose replies carry no token (raw, syslog),
  // which keep a socket per session.
  const SharedTokenHooks* shared_token = nullptr;
  RateDefaults rate{};          // rate limits unless the frontend sets its own
  KissFn rate_kiss = nullptr;   // `kod = true`: the reply to a refused request; nullptr: none
  // A frontend with this preset relays TCP on its listen addresses too unless it says `tcp =
  // false` (dns: clients retry truncated answers over TCP, RFC 7766).
  bool tcp_default = false;
  // Only TCP (nts-ke): the frontend opens no UDP socket, and `tcp = false` is an error.
  bool tcp_only = false;

  std::string_view name() const noexcept { return defaults.name; }
  Check checkRequest(std::span<const std::uint8_t> pkt, Token& token) const noexcept {
    return check_request(pkt, token);
  }
  // On Ok, `token` is that of the request it answers (compare with the pending requests' tokens
  // when usesTokens()).
  Check checkReply(std::span<const std::uint8_t> pkt, Token& token) const noexcept {
    return check_reply(pkt, token);
  }
  bool usesTokens() const noexcept { return token_field.size != 0; }
  bool canShareUpstream() const noexcept { return shared_token != nullptr; }
  bool replyTruncated(std::span<const std::uint8_t> reply) const noexcept {
    return reply_truncated != nullptr && reply_truncated(reply);
  }

  // The hooks for sharing one upstream socket between clients, whose tokens may collide: a
  // request that passed checkRequest gets `token` in place of its own before it goes upstream,
  // and the reply to it, having passed checkReply, gets the client's `original` token back.
  // Only the token's bytes change. False, and nothing written, if the protocol has no token,
  // the token does not fit the field, or the datagram is too short to hold it.
  bool rewriteRequestToken(std::span<std::uint8_t> request, Token token) const noexcept;
  bool restoreReplyToken(std::span<std::uint8_t> reply, Token original) const noexcept;
};

// Each protocol's object, defined in src/protocols/<ns>.cpp. Reach them through the table.
#define UDPX_DECLARE_PROTOCOL(Enumerator, ns) \
  namespace ns {                              \
  extern const Protocol kProtocol;            \
  }
UDPX_PROTOCOLS(UDPX_DECLARE_PROTOCOL)
#undef UDPX_DECLARE_PROTOCOL

// Every protocol, in the table's order.
std::span<const Protocol* const> protocols() noexcept;

// The protocol of a preset. A value cast from a bad integer gets one that drops everything:
// nothing knows how to check what it would forward.
const Protocol& protocolOf(Preset p) noexcept;

// Names are matched exactly (lower case), as they are written in the config. nullptr: unknown.
const Protocol* protocolFromName(std::string_view name) noexcept;

// The preset names, in the table's order (for "valid values: …" in config errors).
std::span<const std::string_view> presetNames() noexcept;
std::optional<Preset> presetFromName(std::string_view name) noexcept;
inline std::string_view presetName(Preset p) noexcept { return protocolOf(p).name(); }

// Thin names for callers that hold a Preset rather than its Protocol.
inline const PresetDefaults& presetDefaults(Preset p) noexcept { return protocolOf(p).defaults; }
inline Check checkRequest(Preset p, std::span<const std::uint8_t> pkt, Token& token) noexcept {
  return protocolOf(p).checkRequest(pkt, token);
}
inline Check checkReply(Preset p, std::span<const std::uint8_t> pkt, Token& token) noexcept {
  return protocolOf(p).checkReply(pkt, token);
}
inline bool usesTokens(Preset p) noexcept { return protocolOf(p).usesTokens(); }
inline bool repliesBoundedByRequest(Preset p) noexcept { return protocolOf(p).replies_bounded_by_request; }

}  // namespace udpx

// The protocol table (Preset and name -> Protocol) and the token hooks, which every token
// protocol shares: they differ only in where the token sits (Protocol::token_field).
#include "protocols/protocol.h"

#include <array>

#include "protocols/probe.h"
#include "protocols/wire.h"

namespace udpx {
namespace {

#define UDPX_TABLE_ENTRY(Enumerator, ns) &ns::kProtocol,
constexpr const Protocol* kProtocols[] = {UDPX_PROTOCOLS(UDPX_TABLE_ENTRY)};
#undef UDPX_TABLE_ENTRY

Check refuse(std::span<const std::uint8_t> /*pkt*/, Token& /*token*/) noexcept { return Check::Malformed; }

// For a Preset cast from a bad integer: drop rather than forward what nothing knows how to check.
constexpr Protocol kUnknown{
    .preset = Preset{0xff},
    .defaults = {"unknown", 0, 0, std::chrono::milliseconds{0}, 0},
    .check_request = refuse,
    .check_reply = refuse,
    .token_field = {},
    .replies_bounded_by_request = false,
    .probe = nullptr,
    .default_probe = ProbeType::None,
};

// True if `token` fits the field and `pkt` is long enough to hold it at `at`.
bool tokenFits(const TokenField& f, std::span<const std::uint8_t> pkt, std::size_t at, Token token) noexcept {
  if (f.size == 0 || pkt.size() < at + f.size) return false;
  return f.size >= sizeof(Token) || (token >> (8 * f.size)) == 0;
}

}  // namespace

std::span<const Protocol* const> protocols() noexcept { return kProtocols; }

const Protocol& protocolOf(Preset p) noexcept {
  const auto i = static_cast<std::size_t>(p);
  return i < std::size(kProtocols) ? *kProtocols[i] : kUnknown;
}

const Protocol* protocolFromName(std::string_view name) noexcept {
  for (const Protocol* p : kProtocols) {
    if (p->name() == name) return p;
  }
  return nullptr;
}

std::span<const std::string_view> presetNames() noexcept {
  static const auto names = [] {
    std::array<std::string_view, std::size(kProtocols)> out;
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = kProtocols[i]->name();
    return out;
  }();
  return names;
}

std::optional<Preset> presetFromName(std::string_view name) noexcept {
  if (const Protocol* p = protocolFromName(name)) return p->preset;
  return std::nullopt;
}

bool Protocol::rewriteRequestToken(std::span<std::uint8_t> request, Token token) const noexcept {
  if (!tokenFits(token_field, request, token_field.request_at, token)) return false;
  wire::writeBe(request, token_field.request_at, token_field.size, token);
  return true;
}

bool Protocol::restoreReplyToken(std::span<std::uint8_t> reply, Token original) const noexcept {
  if (!tokenFits(token_field, reply, token_field.reply_at, original)) return false;
  wire::writeBe(reply, token_field.reply_at, token_field.size, original);
  return true;
}

}  // namespace udpx

// One protocol's datagram checks and token hooks on arbitrary bytes (UDPX_FUZZ_PRESET names the
// protocol: Ntp, Dns, Syslog, Raw). Properties: no check reads past the datagram; a request that
// passes gets a fitting token written, passes again with that token, and nothing else in it
// changed; a reply that passes gets the original token back the same way.
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_check.h"
#include "protocols/protocol.h"

using namespace udpx;

namespace {

// A token of the field's width (the hooks refuse wider ones).
Token fitting(const Protocol& p, Token t) {
  const std::size_t bits = 8 * p.token_field.size;
  return bits >= 64 ? t : t & ((Token{1} << bits) - 1);
}

// The datagram after a hook wrote `size` bytes at `at`: only those bytes may differ.
void onlyTokenChanged(const std::vector<std::uint8_t>& before, const std::vector<std::uint8_t>& after,
                      std::size_t at, std::size_t size) {
  FUZZ_CHECK(before.size() == after.size());
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (i >= at && i < at + size) continue;
    FUZZ_CHECK(before[i] == after[i]);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Protocol& p = protocolOf(Preset::UDPX_FUZZ_PRESET);
  // A heap copy of exactly `size` bytes: ASan sees any read past the datagram's end.
  const std::vector<std::uint8_t> pkt(data, data + size);
  const std::span<const std::uint8_t> view(pkt.data(), pkt.size());

  Token req_token = 0x5a5a;
  const Check req = p.checkRequest(view, req_token);
  FUZZ_CHECK(req == Check::Ok || req == Check::Malformed || req == Check::WrongKind || req == Check::Control);
  if (req == Check::Ok && !p.usesTokens()) FUZZ_CHECK(req_token == 0);

  Token rep_token = 0x5a5a;
  const Check rep = p.checkReply(view, rep_token);
  FUZZ_CHECK(rep == Check::Ok || rep == Check::Malformed || rep == Check::WrongKind || rep == Check::Control);
  if (rep == Check::Ok) (void)p.replyTruncated(view);

  // A fresh token from the input's last bytes (or a constant for short inputs).
  Token fresh = 0x0123456789abcdefULL;
  if (size >= 8) std::memcpy(&fresh, data + size - 8, 8);
  fresh = fitting(p, fresh);

  if (req == Check::Ok) {
    std::vector<std::uint8_t> copy = pkt;
    const bool wrote = p.rewriteRequestToken(copy, fresh);
    FUZZ_CHECK(wrote == p.usesTokens());
    if (wrote) {
      onlyTokenChanged(pkt, copy, p.token_field.request_at, p.token_field.size);
      Token again = 0;
      FUZZ_CHECK(p.checkRequest(copy, again) == Check::Ok);
      FUZZ_CHECK(again == fresh);
      // A token wider than the field is refused and writes nothing.
      if (p.token_field.size < sizeof(Token)) {
        std::vector<std::uint8_t> untouched = copy;
        FUZZ_CHECK(!p.rewriteRequestToken(untouched, Token{1} << (8 * p.token_field.size)));
        FUZZ_CHECK(untouched == copy);
      }
    }
  } else {
    // The hooks are only called on checked datagrams, but must stay in bounds on any.
    std::vector<std::uint8_t> copy = pkt;
    (void)p.rewriteRequestToken(copy, fresh);
  }

  if (rep == Check::Ok) {
    std::vector<std::uint8_t> copy = pkt;
    const bool wrote = p.restoreReplyToken(copy, fresh);
    FUZZ_CHECK(wrote == p.usesTokens());
    if (wrote) {
      onlyTokenChanged(pkt, copy, p.token_field.reply_at, p.token_field.size);
      Token again = 0;
      FUZZ_CHECK(p.checkReply(copy, again) == Check::Ok);
      FUZZ_CHECK(again == fresh);
    }
  } else {
    std::vector<std::uint8_t> copy = pkt;
    (void)p.restoreReplyToken(copy, fresh);
  }
  return 0;
}

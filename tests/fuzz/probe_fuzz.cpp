// One probe's build and judge (UDPX_FUZZ_PROBE: Ntp, Dns, Raw) on arbitrary specs and replies.
// Properties: the probe fits kMaxProbeLen; judging never reads past the reply, and every
// Unhealthy or Refuses verdict says why; an answer that does not carry the probe's token is
// never judged healthy.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <vector>

#include "fuzz_check.h"
#include "protocols/probe.h"

using namespace udpx;

namespace {
std::vector<std::uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  ProbeSpec spec;
  spec.type = ProbeType::UDPX_FUZZ_PROBE;
  if (spec.type == ProbeType::Dns) spec.query = in.ConsumeRandomLengthString(300);
  if (spec.type == ProbeType::Raw) {
    spec.send = bytes(in.ConsumeRandomLengthString(600));
    spec.expect = bytes(in.ConsumeRandomLengthString(64));
  }
  const auto random = in.ConsumeIntegral<std::uint64_t>();
  const bool own_token = in.ConsumeBool();
  const auto other_token = in.ConsumeIntegral<std::uint64_t>();

  std::vector<std::uint8_t> out(kMaxProbeLen);
  Token token = 0;
  const std::size_t n = buildProbe(spec, random, out, token);
  FUZZ_CHECK(n <= kMaxProbeLen);
  if (spec.type == ProbeType::Raw) FUZZ_CHECK(n == (spec.send.size() <= kMaxProbeLen ? spec.send.size() : 0));
  if (spec.type == ProbeType::Ntp) FUZZ_CHECK(n == 48 && token != 0);

  // The reply: a heap copy of exactly the rest, so ASan sees a read past its end.
  const std::vector<std::uint8_t> reply = in.ConsumeRemainingBytes<std::uint8_t>();
  const Token asked = own_token ? token : other_token;
  const ProbeJudgement j = judgeProbeReply(spec, reply, asked);
  switch (j.verdict) {
    case ProbeVerdict::Ignore:
    case ProbeVerdict::Healthy:
    case ProbeVerdict::SlowDown: break;
    case ProbeVerdict::Unhealthy:
    case ProbeVerdict::Refuses: FUZZ_CHECK(!j.reason.empty() && !j.hint.empty()); break;
    default: FUZZ_CHECK(false && "verdict out of range");
  }
  // NTP and DNS pair a reply with the probe by its token: a reply echoing another one is not
  // an answer to this probe.
  if (j.verdict == ProbeVerdict::Healthy && spec.type != ProbeType::Raw && reply.size() >= 12) {
    const Protocol& p = protocolOf(spec.type == ProbeType::Ntp ? Preset::Ntp : Preset::Dns);
    Token echoed = 0;
    if (p.checkReply(reply, echoed) == Check::Ok) FUZZ_CHECK(echoed == asked);
  }
  return 0;
}

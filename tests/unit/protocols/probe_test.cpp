// Tests for the health probes (src/protocols/probe.cpp: the probe types' names and lookup; the
// ntp/dns/raw probes) with crafted replies: every verdict, reason and hint the status shows
// comes from here.
#include "protocols/probe.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <optional>
#include <string_view>
#include <cstdint>
#include <string>
#include <vector>

namespace udpx {
namespace {

using Packet = std::vector<std::uint8_t>;

constexpr std::uint64_t kRandom = 0x0123456789abcdefULL;

struct Built {
  Packet packet;
  Token token = 0;
};

Built build(const ProbeSpec& spec, std::uint64_t random = kRandom) {
  std::array<std::uint8_t, kMaxProbeLen> buf{};
  Built b;
  const std::size_t n = buildProbe(spec, random, buf, b.token);
  b.packet.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  return b;
}

ProbeSpec spec(ProbeType t) {
  ProbeSpec s;
  s.type = t;
  return s;
}

void putBe64(Packet& pkt, std::size_t at, std::uint64_t v) {
  for (std::size_t i = 0; i < 8; ++i) pkt[at + i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
}

// A server reply to `origin`: v4 mode 4, with the given leap indicator, stratum and refid.
Packet ntpReply(std::uint64_t origin, unsigned leap = 0, std::uint8_t stratum = 2, const char* refid = "GPS\0") {
  Packet p(48, 0);
  p[0] = static_cast<std::uint8_t>((leap << 6) | (4 << 3) | 4);
  p[1] = stratum;
  for (std::size_t i = 0; i < 4; ++i) p[12 + i] = static_cast<std::uint8_t>(refid[i]);
  putBe64(p, 24, origin);
  putBe64(p, 40, 0xe8f0a1b200100000ULL);
  return p;
}

ProbeJudgement judge(const ProbeSpec& s, const Packet& reply, Token token) {
  return judgeProbeReply(s, reply, token);
}

// ---- NTP ----

TEST(NtpProbe, IsAModeThreeRequestIdentifiedByItsTransmitTimestamp) {
  const Built b = build(spec(ProbeType::Ntp));
  ASSERT_EQ(b.packet.size(), 48u);
  EXPECT_EQ(b.packet[0] & 7, 3);
  EXPECT_EQ((b.packet[0] >> 3) & 7, 4);
  EXPECT_EQ(b.token, kRandom);
  Token token = 0;
  EXPECT_EQ(checkRequest(Preset::Ntp, b.packet, token), Check::Ok);
  EXPECT_EQ(token, kRandom);
}

TEST(NtpProbe, SynchronisedReplyIsHealthy) {
  const ProbeSpec s = spec(ProbeType::Ntp);
  EXPECT_EQ(judge(s, ntpReply(kRandom), kRandom).verdict, ProbeVerdict::Healthy);
}

TEST(NtpProbe, LeapIndicatorThreeIsNotSynchronised) {
  const ProbeJudgement j = judge(spec(ProbeType::Ntp), ntpReply(kRandom, 3, 8), kRandom);
  EXPECT_EQ(j.verdict, ProbeVerdict::Unhealthy);
  EXPECT_NE(j.reason.find("not synchronised"), std::string_view::npos);
  EXPECT_FALSE(j.hint.empty());
}

TEST(NtpProbe, StratumSixteenAndZeroAreNotSynchronised) {
  EXPECT_EQ(judge(spec(ProbeType::Ntp), ntpReply(kRandom, 0, 16), kRandom).reason,
            "the server is not synchronised (stratum 16)");
  const ProbeJudgement zero = judge(spec(ProbeType::Ntp), ntpReply(kRandom, 0, 0, "\0\0\0\0"), kRandom);
  EXPECT_EQ(zero.verdict, ProbeVerdict::Unhealthy);
  EXPECT_NE(zero.reason.find("not synchronised"), std::string_view::npos);
}

TEST(NtpProbe, KissOfDeathDenyAndRstrRefuseThisHost) {
  for (const char* code : {"DENY", "RSTR"}) {
    const ProbeJudgement j = judge(spec(ProbeType::Ntp), ntpReply(kRandom, 3, 0, code), kRandom);
    EXPECT_EQ(j.verdict, ProbeVerdict::Refuses) << code;
    EXPECT_NE(j.reason.find("refuses this host"), std::string_view::npos) << code;
    EXPECT_NE(j.hint.find("allow"), std::string_view::npos) << code;
  }
}

TEST(NtpProbe, KissOfDeathRateSlowsProbesDown) {
  EXPECT_EQ(judge(spec(ProbeType::Ntp), ntpReply(kRandom, 3, 0, "RATE"), kRandom).verdict, ProbeVerdict::SlowDown);
}

TEST(NtpProbe, KissOfDeathOrReplyForAnotherRequestIsIgnored) {
  const ProbeSpec s = spec(ProbeType::Ntp);
  EXPECT_EQ(judge(s, ntpReply(kRandom + 1, 3, 0, "DENY"), kRandom).verdict, ProbeVerdict::Ignore);
  EXPECT_EQ(judge(s, ntpReply(kRandom + 1, 3, 0, "RATE"), kRandom).verdict, ProbeVerdict::Ignore);
  EXPECT_EQ(judge(s, ntpReply(kRandom + 1), kRandom).verdict, ProbeVerdict::Ignore);
}

TEST(NtpProbe, SomethingElseThanAServerReplyIsUnhealthy) {
  Packet client = ntpReply(kRandom);
  client[0] = static_cast<std::uint8_t>((4 << 3) | 3);
  EXPECT_EQ(judge(spec(ProbeType::Ntp), client, kRandom).verdict, ProbeVerdict::Unhealthy);
  EXPECT_EQ(judge(spec(ProbeType::Ntp), Packet{1, 2, 3}, kRandom).verdict, ProbeVerdict::Unhealthy);
}

TEST(NtpProbe, ZeroRandomStillGivesANonZeroTimestamp) {
  EXPECT_NE(build(spec(ProbeType::Ntp), 0).token, 0u);
}

// ---- DNS ----

Packet dnsReply(const Packet& query, std::uint8_t rcode, std::uint16_t id_xor = 0) {
  Packet r = query;
  r[0] = static_cast<std::uint8_t>(r[0] ^ (id_xor >> 8));
  r[1] = static_cast<std::uint8_t>(r[1] ^ id_xor);
  r[2] = 0x81;
  r[3] = static_cast<std::uint8_t>(0x80 | rcode);
  return r;
}

TEST(DnsProbe, DefaultAsksForTheRootNameServers) {
  const Built b = build(spec(ProbeType::Dns));
  const Packet expected{0xcd, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1};
  EXPECT_EQ(b.packet, expected);
  EXPECT_EQ(b.token, 0xcdefu);
}

TEST(DnsProbe, NamedQueryAsksForItsAddress) {
  ProbeSpec s = spec(ProbeType::Dns);
  s.query = "example.test.";
  const Built b = build(s);
  const Packet tail{7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
  ASSERT_EQ(b.packet.size(), 12 + tail.size());
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), b.packet.begin() + 12));
  Token token = 0;
  EXPECT_EQ(checkRequest(Preset::Dns, b.packet, token), Check::Ok);
}

TEST(DnsProbe, NoErrorAndNxDomainAreHealthy) {
  const ProbeSpec s = spec(ProbeType::Dns);
  const Built b = build(s);
  EXPECT_EQ(judge(s, dnsReply(b.packet, 0), b.token).verdict, ProbeVerdict::Healthy);
  EXPECT_EQ(judge(s, dnsReply(b.packet, 3), b.token).verdict, ProbeVerdict::Healthy);
}

TEST(DnsProbe, ServfailIsUnhealthy) {
  const ProbeSpec s = spec(ProbeType::Dns);
  const Built b = build(s);
  const ProbeJudgement j = judge(s, dnsReply(b.packet, 2), b.token);
  EXPECT_EQ(j.verdict, ProbeVerdict::Unhealthy);
  EXPECT_EQ(j.reason, "the resolver answered SERVFAIL");
}

TEST(DnsProbe, RefusedNamesTheResolversAcl) {
  const ProbeSpec s = spec(ProbeType::Dns);
  const Built b = build(s);
  const ProbeJudgement j = judge(s, dnsReply(b.packet, 5), b.token);
  EXPECT_EQ(j.verdict, ProbeVerdict::Unhealthy);
  EXPECT_NE(j.hint.find("the resolver's ACL refuses this host"), std::string_view::npos);
}

TEST(DnsProbe, ReplyWithAnotherIdIsIgnoredAndAQueryIsUnhealthy) {
  const ProbeSpec s = spec(ProbeType::Dns);
  const Built b = build(s);
  EXPECT_EQ(judge(s, dnsReply(b.packet, 5, 0x0101), b.token).verdict, ProbeVerdict::Ignore);
  EXPECT_EQ(judge(s, b.packet, b.token).verdict, ProbeVerdict::Unhealthy);
}

// ---- raw, none ----

TEST(RawProbe, SendsThePayloadAndMatchesTheExpectedPrefix) {
  ProbeSpec s = spec(ProbeType::Raw);
  s.send = *parseHex("70 69 6e 67");
  s.expect = *parseHex("706f");
  EXPECT_TRUE(probeIsActive(s));
  const Built b = build(s);
  EXPECT_EQ(b.packet, (Packet{'p', 'i', 'n', 'g'}));
  EXPECT_EQ(judge(s, Packet{'p', 'o', 'n', 'g'}, b.token).verdict, ProbeVerdict::Healthy);
  EXPECT_EQ(judge(s, Packet{'p', 'i', 'n', 'g'}, b.token).verdict, ProbeVerdict::Unhealthy);
  EXPECT_EQ(judge(s, Packet{'p'}, b.token).verdict, ProbeVerdict::Unhealthy);
  s.expect.clear();
  EXPECT_EQ(judge(s, Packet{}, b.token).verdict, ProbeVerdict::Healthy);
}

TEST(RawProbe, WithoutPayloadThereIsNoActiveProbe) {
  EXPECT_FALSE(probeIsActive(spec(ProbeType::Raw)));
  EXPECT_FALSE(probeIsActive(spec(ProbeType::None)));
  EXPECT_TRUE(build(spec(ProbeType::None)).packet.empty());
}

TEST(ProbeType, PresetsImplyTheirProbe) {
  EXPECT_EQ(defaultProbeType(Preset::Ntp), ProbeType::Ntp);
  EXPECT_EQ(defaultProbeType(Preset::Dns), ProbeType::Dns);
  EXPECT_EQ(defaultProbeType(Preset::Syslog), ProbeType::None);
  EXPECT_EQ(defaultProbeType(Preset::Raw), ProbeType::None);
  EXPECT_EQ(probeTypeFromName("syslog"), ProbeType::None);
  EXPECT_EQ(probeTypeFromName("bogus"), std::nullopt);
}

TEST(ProbeType, EveryTypeHasItsOwnProbe) {
  for (const ProbeTypeName& n : kProbeTypeNames) {
    EXPECT_EQ(probeOf(n.type).type, n.type) << n.name;
  }
  EXPECT_EQ(&probeOf(ProbeType::Ntp), protocolOf(Preset::Ntp).probe);
  EXPECT_EQ(&probeOf(ProbeType::Raw), protocolOf(Preset::Raw).probe);
  EXPECT_EQ(protocolOf(Preset::Syslog).probe, nullptr);
}

TEST(ProbeType, NamesRoundTripAndSyslogIsAnotherNameForNone) {
  for (const ProbeType t : {ProbeType::None, ProbeType::Ntp, ProbeType::Dns, ProbeType::Raw}) {
    EXPECT_EQ(probeTypeFromName(probeTypeName(t)), t) << probeTypeName(t);
  }
  EXPECT_EQ(probeTypeName(ProbeType::None), "none");
  EXPECT_EQ(probeTypeName(ProbeType::Raw), "raw");
  EXPECT_EQ(probeTypeName(static_cast<ProbeType>(200)), "none");
  EXPECT_EQ(probeTypeFromName("NTP"), std::nullopt);
}

TEST(ProbeType, ListsNamesInTheOrderConfigErrorsShow) {
  const std::vector<std::string_view> names(probeTypeNames().begin(), probeTypeNames().end());
  EXPECT_EQ(names, (std::vector<std::string_view>{"ntp", "dns", "raw", "syslog", "none"}));
}

TEST(ProbeType, DefaultsComeWithTheProbe) {
  EXPECT_EQ(probeDefaults(ProbeType::Ntp).interval, std::chrono::seconds{10});
  EXPECT_EQ(probeDefaults(ProbeType::Dns).interval, std::chrono::seconds{5});
  EXPECT_EQ(probeDefaults(ProbeType::Raw).interval, std::chrono::seconds{5});
  EXPECT_EQ(probeDefaults(ProbeType::None).rise, 1u);
  EXPECT_EQ(probeDefaults(ProbeType::Ntp).rise, 2u);
}

TEST(ProbeType, NoReplyHintsNameTheServersAccessRules) {
  EXPECT_NE(probeOf(ProbeType::Ntp).no_reply_hint.find("chrony: `allow`"), std::string_view::npos);
  EXPECT_NE(probeOf(ProbeType::Dns).no_reply_hint.find("allow-query"), std::string_view::npos);
  EXPECT_EQ(probeOf(ProbeType::Raw).no_reply_hint, kNoReplyHint);
  EXPECT_EQ(probeOf(ProbeType::None).no_reply_hint, kNoReplyHint);
}

TEST(ParseHex, AcceptsSeparatorsAndRejectsOddOrNonHex) {
  EXPECT_EQ(parseHex("0a:1B 2c"), (Packet{0x0a, 0x1b, 0x2c}));
  EXPECT_EQ(parseHex(""), Packet{});
  EXPECT_EQ(parseHex("abc"), std::nullopt);
  EXPECT_EQ(parseHex("zz"), std::nullopt);
}

}  // namespace
}  // namespace udpx

// Tests for the protocol table (src/protocols/protocol.cpp): its entries, the lookups by Preset
// and by name, each preset's defaults, and the checks too simple for a file of their own
// (syslog.cpp, raw.cpp).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <iterator>
#include <string_view>
#include <vector>

#include "protocols/protocol.h"

namespace udpx {
namespace {

using namespace std::chrono_literals;
using Packet = std::vector<std::uint8_t>;

constexpr Token kUntouched = 0xdeadbeefcafef00dULL;

Packet bytesOf(std::string_view text) { return Packet(text.begin(), text.end()); }

// Every enumerator, from the same list that makes the enum and the table.
#define UDPX_TEST_ENUMERATOR(Enumerator, ns) Preset::Enumerator,
constexpr Preset kEveryPreset[] = {UDPX_PROTOCOLS(UDPX_TEST_ENUMERATOR)};
#undef UDPX_TEST_ENUMERATOR

// --- the table -----------------------------------------------------------------------------

TEST(ProtocolTable, EveryPresetHasItsOwnEntry) {
  ASSERT_EQ(protocols().size(), std::size(kEveryPreset));
  for (std::size_t i = 0; i < std::size(kEveryPreset); ++i) {
    const Preset p = kEveryPreset[i];
    const Protocol& proto = protocolOf(p);
    EXPECT_EQ(&proto, protocols()[i]);
    EXPECT_EQ(proto.preset, p) << proto.name();  // each file's object names its own Preset
    EXPECT_NE(proto.check_request, nullptr) << proto.name();
    EXPECT_NE(proto.check_reply, nullptr) << proto.name();
  }
}

TEST(ProtocolTable, EachProtocolHasADistinctName) {
  for (const Protocol* a : protocols()) {
    EXPECT_FALSE(a->name().empty());
    for (const Protocol* b : protocols()) {
      if (a != b) {
        EXPECT_NE(a->name(), b->name());
      }
    }
  }
}

TEST(ProtocolTable, NamesRoundTrip) {
  for (const Preset p : kEveryPreset) {
    const std::string_view name = presetName(p);
    EXPECT_EQ(presetFromName(name), p) << name;
    EXPECT_EQ(protocolFromName(name), &protocolOf(p)) << name;
  }
}

TEST(ProtocolTable, ListsNamesInTheOrderConfigErrorsShow) {
  const std::vector<std::string_view> names(presetNames().begin(), presetNames().end());
  EXPECT_EQ(names, (std::vector<std::string_view>{"ntp", "dns", "syslog", "raw", "nts-ke"}));
}

TEST(ProtocolTable, UnknownNamesFindNoProtocol) {
  // "unknown" is the name of what a bad Preset value gets: it must not be configurable.
  for (std::string_view name : {"", "http", "NTP", "ntp ", "none", "unknown"}) {
    EXPECT_EQ(protocolFromName(name), nullptr) << "'" << name << "'";
    EXPECT_EQ(presetFromName(name), std::nullopt) << "'" << name << "'";
  }
}

TEST(ProtocolTable, ABadPresetValueGetsNoTokenAndNoProbe) {
  const Protocol& proto = protocolOf(static_cast<Preset>(200));
  EXPECT_EQ(proto.probe, nullptr);
  Packet pkt = bytesOf("hello, world");
  const Packet original = pkt;
  EXPECT_FALSE(proto.rewriteRequestToken(pkt, 1));
  EXPECT_FALSE(proto.restoreReplyToken(pkt, 1));
  EXPECT_EQ(pkt, original);
}

TEST(ProtocolTable, ProtocolsWithoutATokenHaveNoHooks) {
  for (const Preset p : {Preset::Syslog, Preset::Raw}) {
    const Protocol& proto = protocolOf(p);
    EXPECT_FALSE(proto.usesTokens()) << proto.name();
    Packet pkt = bytesOf("a datagram long enough to hold any token's field, sixty-four bytes.");
    const Packet original = pkt;
    EXPECT_FALSE(proto.rewriteRequestToken(pkt, 0x1234)) << proto.name();
    EXPECT_FALSE(proto.restoreReplyToken(pkt, 0x1234)) << proto.name();
    EXPECT_EQ(pkt, original) << proto.name();
  }
}

// --- defaults ------------------------------------------------------------------------------

TEST(PresetDefaults, NtpAnswersOnceOnPort123) {
  const PresetDefaults& d = presetDefaults(Preset::Ntp);
  EXPECT_EQ(d.name, "ntp");
  EXPECT_EQ(d.port, 123);
  EXPECT_EQ(d.responses, 1u);
  EXPECT_EQ(d.session_timeout, 2s);
  EXPECT_EQ(d.max_datagram, 2048u);
}

TEST(PresetDefaults, DnsAnswersOnceOnPort53) {
  const PresetDefaults& d = presetDefaults(Preset::Dns);
  EXPECT_EQ(d.name, "dns");
  EXPECT_EQ(d.port, 53);
  EXPECT_EQ(d.responses, 1u);
  EXPECT_EQ(d.session_timeout, 5s);
  EXPECT_EQ(d.max_datagram, 4096u);
}

TEST(PresetDefaults, SyslogIsOneWayOnPort514) {
  const PresetDefaults& d = presetDefaults(Preset::Syslog);
  EXPECT_EQ(d.name, "syslog");
  EXPECT_EQ(d.port, 514);
  EXPECT_EQ(d.responses, 0u);
  EXPECT_EQ(d.session_timeout, 60s);
  EXPECT_EQ(d.max_datagram, 8192u);
}

TEST(PresetDefaults, RawHasNoPortAndUnlimitedResponses) {
  const PresetDefaults& d = presetDefaults(Preset::Raw);
  EXPECT_EQ(d.name, "raw");
  EXPECT_EQ(d.port, 0);
  EXPECT_EQ(d.responses, kUnlimitedResponses);
  EXPECT_EQ(d.session_timeout, 60s);
  EXPECT_EQ(d.max_datagram, 65507u);  // the largest UDP payload over IPv4
}

// --- names ---------------------------------------------------------------------------------

TEST(PresetFromName, FindsEachPresetByName) {
  EXPECT_EQ(presetFromName("ntp"), Preset::Ntp);
  EXPECT_EQ(presetFromName("dns"), Preset::Dns);
  EXPECT_EQ(presetFromName("syslog"), Preset::Syslog);
  EXPECT_EQ(presetFromName("raw"), Preset::Raw);
}

TEST(PresetFromName, RoundTripsEveryPresetsOwnName) {
  for (Preset p : kEveryPreset) {
    EXPECT_EQ(presetFromName(presetDefaults(p).name), p) << presetDefaults(p).name;
  }
}

TEST(PresetFromName, RejectsUnknownNames) {
  for (std::string_view name : {"", "http", "snmp", "ntpd", "nt", "dnss", "sys"}) {
    EXPECT_EQ(presetFromName(name), std::nullopt) << "'" << name << "'";
  }
}

TEST(PresetFromName, IsCaseSensitiveAndDoesNotTrim) {
  for (std::string_view name : {"NTP", "Dns", "SYSLOG", " raw", "raw ", "ntp\n"}) {
    EXPECT_EQ(presetFromName(name), std::nullopt) << "'" << name << "'";
  }
}

TEST(PresetFromName, MatchesTheWholeViewOnly) {
  // A string_view into a longer buffer: only the viewed characters count.
  constexpr std::string_view line = "dnsmasq";
  EXPECT_EQ(presetFromName(line.substr(0, 3)), Preset::Dns);
  EXPECT_EQ(presetFromName(line), std::nullopt);
}

// --- dispatcher ----------------------------------------------------------------------------

TEST(ProtocolDispatch, OnlyNtpBoundsRepliesByRequest) {
  EXPECT_TRUE(repliesBoundedByRequest(Preset::Ntp));
  EXPECT_FALSE(repliesBoundedByRequest(Preset::Dns));
  EXPECT_FALSE(repliesBoundedByRequest(Preset::Syslog));
  EXPECT_FALSE(repliesBoundedByRequest(Preset::Raw));
}

TEST(ProtocolDispatch, OnlyNtpAndDnsUseTokens) {
  EXPECT_TRUE(usesTokens(Preset::Ntp));
  EXPECT_TRUE(usesTokens(Preset::Dns));
  EXPECT_FALSE(usesTokens(Preset::Syslog));
  EXPECT_FALSE(usesTokens(Preset::Raw));
}

TEST(ProtocolDispatch, RoutesEachPresetToItsOwnValidator) {
  // One packet, four verdicts: a 12-byte DNS response header is a short NTP packet (v0, mode 1).
  const Packet pkt{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0};
  Token token = kUntouched;
  EXPECT_EQ(checkRequest(Preset::Ntp, pkt, token), Check::Malformed);
  EXPECT_EQ(checkRequest(Preset::Dns, pkt, token), Check::WrongKind);
  EXPECT_EQ(checkReply(Preset::Dns, pkt, token), Check::Ok);
  EXPECT_EQ(token, 0x1234u);
  EXPECT_EQ(checkRequest(Preset::Syslog, pkt, token), Check::Ok);
  EXPECT_EQ(checkRequest(Preset::Raw, Packet{}, token), Check::Ok);
}

TEST(ProtocolDispatch, DropsDatagramsForAnUnknownPresetValue) {
  // Only reachable through a bad cast; dropping is the safe answer.
  const auto bogus = static_cast<Preset>(200);
  const Packet pkt = bytesOf("hello");
  Token token = kUntouched;
  EXPECT_EQ(checkRequest(bogus, pkt, token), Check::Malformed);
  EXPECT_EQ(checkReply(bogus, pkt, token), Check::Malformed);
  EXPECT_EQ(token, kUntouched);
  EXPECT_FALSE(usesTokens(bogus));
  EXPECT_FALSE(repliesBoundedByRequest(bogus));
}

// --- syslog --------------------------------------------------------------------------------

TEST(SyslogProtocol, AcceptsRfc5424MessageWithTokenZero) {
  const Packet msg = bytesOf(
      "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed");
  Token token = kUntouched;
  EXPECT_EQ(checkRequest(Preset::Syslog, msg, token), Check::Ok);
  EXPECT_EQ(token, 0u);
}

TEST(SyslogProtocol, AcceptsRfc3164MessageAndUnparseableText) {
  Token token = kUntouched;
  EXPECT_EQ(checkRequest(Preset::Syslog, bytesOf("<13>Oct 11 22:14:15 host app: hi"), token),
            Check::Ok);
  EXPECT_EQ(checkRequest(Preset::Syslog, bytesOf("x"), token), Check::Ok);
  EXPECT_EQ(checkRequest(Preset::Syslog, Packet{0x00}, token), Check::Ok);
}

TEST(SyslogProtocol, RejectsEmptyDatagramAsMalformed) {
  Token token = kUntouched;
  EXPECT_EQ(checkRequest(Preset::Syslog, Packet{}, token), Check::Malformed);
  EXPECT_EQ(token, kUntouched);
}

TEST(SyslogProtocol, LeavesRepliesToTheResponseBudget) {
  // The validator accepts; the preset's budget of 0 replies is what drops them.
  Token token = kUntouched;
  EXPECT_EQ(checkReply(Preset::Syslog, bytesOf("anything"), token), Check::Ok);
  EXPECT_EQ(token, 0u);
  EXPECT_EQ(checkReply(Preset::Syslog, Packet{}, token), Check::Ok);
  EXPECT_EQ(presetDefaults(Preset::Syslog).responses, 0u);
}

TEST(SyslogProtocol, DoesNotUseTokens) {
  EXPECT_FALSE(usesTokens(Preset::Syslog));
}

// --- raw -----------------------------------------------------------------------------------

TEST(RawProtocol, AcceptsEmptyDatagramBothWays) {
  Token token = kUntouched;
  EXPECT_EQ(checkRequest(Preset::Raw, Packet{}, token), Check::Ok);
  EXPECT_EQ(token, 0u);
  token = kUntouched;
  EXPECT_EQ(checkReply(Preset::Raw, Packet{}, token), Check::Ok);
  EXPECT_EQ(token, 0u);
}

TEST(RawProtocol, AcceptsWhatOtherPresetsRefuse) {
  const Packet monlist{0x17, 0x00, 0x03, 0x2a, 0x00, 0x00, 0x00, 0x00};
  const Packet dnsResponse{0x12, 0x34, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0};
  const Packet large(65507, 0xff);
  for (const Packet* pkt : {&monlist, &dnsResponse, &large}) {
    Token token = kUntouched;
    EXPECT_EQ(checkRequest(Preset::Raw, *pkt, token), Check::Ok);
    EXPECT_EQ(token, 0u);
    token = kUntouched;
    EXPECT_EQ(checkReply(Preset::Raw, *pkt, token), Check::Ok);
    EXPECT_EQ(token, 0u);
  }
}

TEST(RawProtocol, DoesNotUseTokens) {
  EXPECT_FALSE(usesTokens(Preset::Raw));
}

}  // namespace
}  // namespace udpx

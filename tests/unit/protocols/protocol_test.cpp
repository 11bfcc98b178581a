// Tests for the preset table (src/protocols/presets.cpp), the dispatcher (protocol.cpp) and the
// validators too simple for a file of their own (syslog.cpp, raw.cpp).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "protocols/protocol.h"

namespace udpx {
namespace {

using namespace std::chrono_literals;
using Packet = std::vector<std::uint8_t>;

constexpr Token kUntouched = 0xdeadbeefcafef00dULL;
constexpr Preset kAllPresets[] = {Preset::Raw, Preset::Ntp, Preset::Dns, Preset::Syslog};

Packet bytesOf(std::string_view text) { return Packet(text.begin(), text.end()); }

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
  for (Preset p : kAllPresets) {
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

// Tests for the ntp protocol's checks and token hooks (src/protocols/ntp.cpp) through protocol.h.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "protocols/protocol.h"
#include "packet_diff.h"

namespace udpx {
namespace {

using Packet = std::vector<std::uint8_t>;

constexpr std::size_t kOriginAt = 24;
constexpr std::size_t kReceiveAt = 32;
constexpr std::size_t kTransmitAt = 40;
constexpr Token kUntouched = 0xdeadbeefcafef00dULL;

// Byte 0 is LI(2) VN(3) Mode(3); the rest is zero until a test fills it in.
Packet makeNtpPacket(unsigned version, unsigned mode, std::size_t length, unsigned leap = 0) {
  Packet pkt(length, 0);
  if (length > 0) pkt[0] = static_cast<std::uint8_t>((leap << 6) | (version << 3) | mode);
  return pkt;
}

void putBe64(Packet& pkt, std::size_t at, std::uint64_t v) {
  for (std::size_t i = 0; i < 8; ++i) {
    pkt[at + i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
  }
}

// A client request as chrony sends it: v4, mode 3, leap "unsynchronised", poll 6, random
// transmit timestamp, the other timestamps zero.
Packet clientRequest(std::uint64_t transmit) {
  Packet pkt = makeNtpPacket(4, 3, 48, 3);
  pkt[2] = 6;  // poll
  putBe64(pkt, kTransmitAt, transmit);
  return pkt;
}

// A server reply echoing `origin` (the request's transmit timestamp).
Packet serverReply(std::uint64_t origin) {
  Packet pkt = makeNtpPacket(4, 4, 48);
  pkt[1] = 2;  // stratum
  putBe64(pkt, kOriginAt, origin);
  putBe64(pkt, kReceiveAt, 0xe8f0a1b200000000ULL);
  putBe64(pkt, kTransmitAt, 0xe8f0a1b200100000ULL);
  return pkt;
}

Check request(const Packet& pkt, Token& token) { return checkRequest(Preset::Ntp, pkt, token); }
Check reply(const Packet& pkt, Token& token) { return checkReply(Preset::Ntp, pkt, token); }

Check request(const Packet& pkt) {
  Token token = kUntouched;
  return request(pkt, token);
}

Check reply(const Packet& pkt) {
  Token token = kUntouched;
  return reply(pkt, token);
}

// --- requests ------------------------------------------------------------------------------

TEST(NtpProtocol, AcceptsClientRequestWithTransmitTimestampAsToken) {
  Token token = kUntouched;
  EXPECT_EQ(request(clientRequest(0xe8f0a1b2c3d4e5f6ULL), token), Check::Ok);
  EXPECT_EQ(token, 0xe8f0a1b2c3d4e5f6ULL);
}

TEST(NtpProtocol, ReadsTransmitTimestampBigEndian) {
  Packet pkt = makeNtpPacket(4, 3, 48);
  for (std::size_t i = 0; i < 8; ++i) pkt[kTransmitAt + i] = static_cast<std::uint8_t>(i + 1);
  Token token = kUntouched;
  ASSERT_EQ(request(pkt, token), Check::Ok);
  EXPECT_EQ(token, 0x0102030405060708ULL);
}

TEST(NtpProtocol, RequestTokenIgnoresOtherTimestamps) {
  Packet pkt = clientRequest(0x1111111111111111ULL);
  putBe64(pkt, 16, 0x2222222222222222ULL);  // reference
  putBe64(pkt, kOriginAt, 0x3333333333333333ULL);
  putBe64(pkt, kReceiveAt, 0x4444444444444444ULL);
  Token token = kUntouched;
  ASSERT_EQ(request(pkt, token), Check::Ok);
  EXPECT_EQ(token, 0x1111111111111111ULL);
}

TEST(NtpProtocol, AcceptsClientRequestOfVersions1To4) {
  for (unsigned version = 1; version <= 4; ++version) {
    EXPECT_EQ(request(makeNtpPacket(version, 3, 48)), Check::Ok) << "version " << version;
  }
}

TEST(NtpProtocol, AcceptsAnyLeapIndicator) {
  for (unsigned leap = 0; leap <= 3; ++leap) {
    EXPECT_EQ(request(makeNtpPacket(4, 3, 48, leap)), Check::Ok) << "leap " << leap;
  }
}

TEST(NtpProtocol, AcceptsRequestWithMacOrExtensionFields) {
  // 48 + key id + MD5 (68), + SHA1 (72), + a 16-byte extension field and a MAC (88).
  for (std::size_t length : {68u, 72u, 88u, 1024u}) {
    EXPECT_EQ(request(makeNtpPacket(4, 3, length)), Check::Ok) << "length " << length;
  }
}

TEST(NtpProtocol, DropsMode7MonlistAsControl) {
  // The ntpdc monlist query used for amplification: v2, mode 7, implementation 3 (XNTPD),
  // request code 42 (MON_GETLIST_1), padded to 8 bytes.
  const Packet monlist{0x17, 0x00, 0x03, 0x2a, 0x00, 0x00, 0x00, 0x00};
  Token token = kUntouched;
  EXPECT_EQ(request(monlist, token), Check::Control);
  EXPECT_EQ(token, kUntouched);
}

TEST(NtpProtocol, DropsMode7PaddedToFullHeaderAsControl) {
  Packet monlist = makeNtpPacket(2, 7, 48);
  monlist[2] = 0x03;
  monlist[3] = 0x2a;
  EXPECT_EQ(request(monlist), Check::Control);
}

TEST(NtpProtocol, DropsOneByteMode7AsControlNotMalformed) {
  EXPECT_EQ(request(makeNtpPacket(2, 7, 1)), Check::Control);
}

TEST(NtpProtocol, DropsMode6NtpqReadvarAsControl) {
  // ntpq "rv": v2, mode 6, opcode 2 (READVAR), sequence 1, a bare 12-byte header.
  const Packet readvar{0x16, 0x02, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(request(readvar), Check::Control);
}

TEST(NtpProtocol, DropsControlModesWhateverTheVersionOrLength) {
  for (unsigned mode : {6u, 7u}) {
    for (unsigned version = 0; version <= 7; ++version) {
      for (std::size_t length : {1u, 2u, 12u, 47u, 48u, 49u, 100u}) {
        EXPECT_EQ(request(makeNtpPacket(version, mode, length)), Check::Control)
            << "mode " << mode << " version " << version << " length " << length;
      }
    }
  }
}

TEST(NtpProtocol, RejectsNonClientModesAsWrongKind) {
  for (unsigned mode : {0u, 1u, 2u, 4u, 5u}) {
    Token token = kUntouched;
    EXPECT_EQ(request(makeNtpPacket(4, mode, 48), token), Check::WrongKind) << "mode " << mode;
    EXPECT_EQ(token, kUntouched);
  }
}

TEST(NtpProtocol, RejectsServerReplySentAsRequestAsWrongKind) {
  EXPECT_EQ(request(serverReply(0x1234)), Check::WrongKind);
}

TEST(NtpProtocol, RejectsEmptyRequestAsMalformed) {
  EXPECT_EQ(request(Packet{}), Check::Malformed);
}

TEST(NtpProtocol, RejectsRequestShorterThan48AsMalformed) {
  for (std::size_t length = 1; length < 48; ++length) {
    Token token = kUntouched;
    EXPECT_EQ(request(makeNtpPacket(4, 3, length), token), Check::Malformed) << "length " << length;
    EXPECT_EQ(token, kUntouched);
  }
}

TEST(NtpProtocol, RejectsRequestLengthNotMultipleOf4AsMalformed) {
  for (std::size_t length : {49u, 50u, 51u, 69u, 70u, 71u}) {
    EXPECT_EQ(request(makeNtpPacket(4, 3, length)), Check::Malformed) << "length " << length;
  }
}

TEST(NtpProtocol, RejectsRequestVersion0AndAbove4AsMalformed) {
  for (unsigned version : {0u, 5u, 6u, 7u}) {
    EXPECT_EQ(request(makeNtpPacket(version, 3, 48)), Check::Malformed) << "version " << version;
  }
}

TEST(NtpProtocol, RejectsShortNonClientModeAsMalformedNotWrongKind) {
  // WrongKind is for well-formed packets; a 20-byte mode 4 is not NTP at all.
  EXPECT_EQ(request(makeNtpPacket(4, 4, 20)), Check::Malformed);
  EXPECT_EQ(request(makeNtpPacket(0, 1, 48)), Check::Malformed);
}

TEST(NtpProtocol, AcceptsOnlyVersion1To4Mode3AmongAllFirstBytes) {
  int ok = 0;
  int control = 0;
  int wrongKind = 0;
  int malformed = 0;
  for (unsigned first = 0; first <= 0xff; ++first) {
    Packet pkt(48, 0);
    pkt[0] = static_cast<std::uint8_t>(first);
    switch (request(pkt)) {
      case Check::Ok:
        ++ok;
        EXPECT_EQ(first & 0x07, 3u) << "first byte " << first;
        break;
      case Check::Control: ++control; break;
      case Check::WrongKind: ++wrongKind; break;
      case Check::Malformed: ++malformed; break;
    }
  }
  EXPECT_EQ(ok, 4 * 4);          // 4 leap values x versions 1-4
  EXPECT_EQ(control, 4 * 8 * 2);  // modes 6 and 7, any leap and version
  EXPECT_EQ(wrongKind, 4 * 4 * 5);
  EXPECT_EQ(malformed, 4 * 4 * 6);  // versions 0, 5, 6, 7 with modes 0-5
}

// --- replies -------------------------------------------------------------------------------

TEST(NtpProtocol, AcceptsServerReplyWithOriginTimestampAsToken) {
  Token token = kUntouched;
  EXPECT_EQ(reply(serverReply(0xe8f0a1b2c3d4e5f6ULL), token), Check::Ok);
  EXPECT_EQ(token, 0xe8f0a1b2c3d4e5f6ULL);
}

TEST(NtpProtocol, ReadsOriginTimestampBigEndian) {
  Packet pkt = makeNtpPacket(4, 4, 48);
  for (std::size_t i = 0; i < 8; ++i) pkt[kOriginAt + i] = static_cast<std::uint8_t>(0xf0 + i);
  Token token = kUntouched;
  ASSERT_EQ(reply(pkt, token), Check::Ok);
  EXPECT_EQ(token, 0xf0f1f2f3f4f5f6f7ULL);
}

TEST(NtpProtocol, ReplyTokenMatchesTheRequestItAnswers) {
  Token requestToken = 0;
  Token replyToken = 1;
  ASSERT_EQ(request(clientRequest(0x0123456789abcdefULL), requestToken), Check::Ok);
  ASSERT_EQ(reply(serverReply(0x0123456789abcdefULL), replyToken), Check::Ok);
  EXPECT_EQ(replyToken, requestToken);
}

TEST(NtpProtocol, AcceptsServerReplyOfVersions1To4AndWithMac) {
  for (unsigned version = 1; version <= 4; ++version) {
    EXPECT_EQ(reply(makeNtpPacket(version, 4, 48)), Check::Ok) << "version " << version;
  }
  EXPECT_EQ(reply(makeNtpPacket(4, 4, 68)), Check::Ok);
}

TEST(NtpProtocol, RejectsNonServerModesInReplyAsWrongKind) {
  for (unsigned mode : {0u, 1u, 2u, 3u, 5u, 6u, 7u}) {
    Token token = kUntouched;
    EXPECT_EQ(reply(makeNtpPacket(4, mode, 48), token), Check::WrongKind) << "mode " << mode;
    EXPECT_EQ(token, kUntouched);
  }
}

TEST(NtpProtocol, RejectsEmptyReplyAsMalformed) {
  EXPECT_EQ(reply(Packet{}), Check::Malformed);
}

TEST(NtpProtocol, RejectsReplyShorterThan48AsMalformed) {
  for (std::size_t length = 1; length < 48; ++length) {
    EXPECT_EQ(reply(makeNtpPacket(4, 4, length)), Check::Malformed) << "length " << length;
  }
}

TEST(NtpProtocol, RejectsReplyLengthNotMultipleOf4AsMalformed) {
  for (std::size_t length : {49u, 50u, 51u}) {
    EXPECT_EQ(reply(makeNtpPacket(4, 4, length)), Check::Malformed) << "length " << length;
  }
}

TEST(NtpProtocol, RejectsReplyVersion0AndAbove4AsMalformed) {
  for (unsigned version : {0u, 5u, 6u, 7u}) {
    EXPECT_EQ(reply(makeNtpPacket(version, 4, 48)), Check::Malformed) << "version " << version;
  }
}

TEST(NtpProtocol, ChecksOnlyTheBytesInTheSpan) {
  // A 48-byte request seen through a 47-byte window must not be read past the window.
  const Packet pkt = clientRequest(42);
  const std::span<const std::uint8_t> window(pkt.data(), 47);
  Token token = kUntouched;
  EXPECT_EQ(checkRequest(Preset::Ntp, window, token), Check::Malformed);
  EXPECT_EQ(checkReply(Preset::Ntp, window, token), Check::Malformed);
  EXPECT_EQ(checkRequest(Preset::Ntp, pkt, token), Check::Ok);
}

// --- flags ---------------------------------------------------------------------------------

TEST(NtpProtocol, MatchesRepliesByToken) {
  EXPECT_TRUE(usesTokens(Preset::Ntp));
}

TEST(NtpProtocol, BoundsReplyLengthByRequest) {
  EXPECT_TRUE(repliesBoundedByRequest(Preset::Ntp));
}

// --- token hooks (shared upstream sockets) ---------------------------------------------------

constexpr std::uint64_t kClientTransmit = 0xe8f0a1b2c3d4e5f6ULL;
constexpr std::uint64_t kUpstreamToken = 0x0102030405060708ULL;

const Protocol& ntpProtocol() { return protocolOf(Preset::Ntp); }

using test::differingBytes;

TEST(NtpTokens, RewriteReplacesOnlyTheTransmitTimestamp) {
  const Packet original = clientRequest(kClientTransmit);
  Packet pkt = original;
  ASSERT_TRUE(ntpProtocol().rewriteRequestToken(pkt, kUpstreamToken));
  ASSERT_EQ(pkt.size(), original.size());
  EXPECT_EQ(differingBytes(pkt, original), (std::vector<std::size_t>{40, 41, 42, 43, 44, 45, 46, 47}));
  Token token = kUntouched;
  ASSERT_EQ(request(pkt, token), Check::Ok);
  EXPECT_EQ(token, kUpstreamToken);
}

TEST(NtpTokens, RestoreReplacesOnlyTheOriginTimestamp) {
  const Packet upstream = serverReply(kUpstreamToken);
  Packet pkt = upstream;
  ASSERT_TRUE(ntpProtocol().restoreReplyToken(pkt, kClientTransmit));
  EXPECT_EQ(differingBytes(pkt, upstream), (std::vector<std::size_t>{24, 25, 26, 27, 28, 29, 30, 31}));
}

TEST(NtpTokens, ReplyToARewrittenRequestIsMatchedAndRestoredToTheClientsBytes) {
  Packet req = clientRequest(kClientTransmit);
  Token clientToken = 0;
  ASSERT_EQ(request(req, clientToken), Check::Ok);
  ASSERT_TRUE(ntpProtocol().rewriteRequestToken(req, kUpstreamToken));
  Token sentToken = 0;
  ASSERT_EQ(request(req, sentToken), Check::Ok);

  // The server echoes what it received: its reply answers the rewritten request.
  Packet rep = serverReply(kUpstreamToken);
  Token replyToken = 0;
  ASSERT_EQ(reply(rep, replyToken), Check::Ok);
  EXPECT_EQ(replyToken, sentToken);

  ASSERT_TRUE(ntpProtocol().restoreReplyToken(rep, clientToken));
  EXPECT_EQ(rep, serverReply(kClientTransmit));  // what the client would have got directly
  ASSERT_EQ(reply(rep, replyToken), Check::Ok);
  EXPECT_EQ(replyToken, clientToken);
}

TEST(NtpTokens, RewriteThenRewriteBackGivesTheOriginalBytes) {
  const Packet original = clientRequest(kClientTransmit);
  Packet pkt = original;
  ASSERT_TRUE(ntpProtocol().rewriteRequestToken(pkt, kUpstreamToken));
  ASSERT_NE(pkt, original);
  ASSERT_TRUE(ntpProtocol().rewriteRequestToken(pkt, kClientTransmit));
  EXPECT_EQ(pkt, original);
}

TEST(NtpTokens, LeaveADatagramTooShortForTheTimestampUntouched) {
  const Packet shortRequest(47, 0x23);
  Packet pkt = shortRequest;
  EXPECT_FALSE(ntpProtocol().rewriteRequestToken(pkt, kUpstreamToken));
  EXPECT_EQ(pkt, shortRequest);
  const Packet shortReply(31, 0x24);
  pkt = shortReply;
  EXPECT_FALSE(ntpProtocol().restoreReplyToken(pkt, kClientTransmit));
  EXPECT_EQ(pkt, shortReply);
  // The origin timestamp ends at byte 32: a 32-byte prefix is long enough to restore it.
  pkt = Packet(32, 0);
  EXPECT_TRUE(ntpProtocol().restoreReplyToken(pkt, kClientTransmit));
}

TEST(NtpTokens, TheTokenIsTheWholeSixtyFourBitTimestamp) {
  EXPECT_EQ(ntpProtocol().token_field.size, 8u);
  Packet pkt = clientRequest(0);
  ASSERT_TRUE(ntpProtocol().rewriteRequestToken(pkt, ~Token{0}));
  Token token = 0;
  ASSERT_EQ(request(pkt, token), Check::Ok);
  EXPECT_EQ(token, ~Token{0});
}

}  // namespace
}  // namespace udpx

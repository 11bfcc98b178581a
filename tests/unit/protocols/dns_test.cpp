// Tests for the dns protocol's checks and token hooks (src/protocols/dns.cpp) through protocol.h.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "protocols/protocol.h"
#include "packet_diff.h"

namespace udpx {
namespace {

using Packet = std::vector<std::uint8_t>;

constexpr Token kUntouched = 0xdeadbeefcafef00dULL;

// A 12-byte header: ID, two flag bytes, then QD/AN/NS/AR counts.
Packet makeDnsHeader(std::uint16_t id, std::uint8_t flags1, std::uint8_t flags2,
                     std::uint16_t qdcount = 0, std::uint16_t ancount = 0) {
  return Packet{static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id & 0xff),
                flags1, flags2,
                static_cast<std::uint8_t>(qdcount >> 8), static_cast<std::uint8_t>(qdcount & 0xff),
                static_cast<std::uint8_t>(ancount >> 8), static_cast<std::uint8_t>(ancount & 0xff),
                0, 0, 0, 0};
}

// Appends a question: the name as length-prefixed labels, QTYPE, QCLASS IN.
void appendQuestion(Packet& pkt, std::string_view name, std::uint16_t qtype) {
  std::size_t start = 0;
  while (start < name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string_view::npos) dot = name.size();
    pkt.push_back(static_cast<std::uint8_t>(dot - start));
    for (std::size_t i = start; i < dot; ++i) pkt.push_back(static_cast<std::uint8_t>(name[i]));
    start = dot + 1;
  }
  pkt.push_back(0);
  pkt.push_back(static_cast<std::uint8_t>(qtype >> 8));
  pkt.push_back(static_cast<std::uint8_t>(qtype & 0xff));
  pkt.push_back(0);
  pkt.push_back(1);  // IN
}

// "example.com A?" with RD set, as dig sends it (without the EDNS record).
Packet makeQuery(std::uint16_t id) {
  Packet pkt = makeDnsHeader(id, 0x01, 0x00, 1);
  appendQuestion(pkt, "example.com", 1);
  return pkt;
}

// The answer to makeQuery(id): QR, RD, RA, NOERROR, one A record pointing back at the question.
Packet makeResponse(std::uint16_t id) {
  Packet pkt = makeDnsHeader(id, 0x81, 0x80, 1, 1);
  appendQuestion(pkt, "example.com", 1);
  const Packet answer{0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x0e, 0x10,
                      0x00, 0x04, 93, 184, 215, 14};
  pkt.insert(pkt.end(), answer.begin(), answer.end());
  return pkt;
}

Check request(const Packet& pkt, Token& token) { return checkRequest(Preset::Dns, pkt, token); }
Check reply(const Packet& pkt, Token& token) { return checkReply(Preset::Dns, pkt, token); }

Check request(const Packet& pkt) {
  Token token = kUntouched;
  return request(pkt, token);
}

Check reply(const Packet& pkt) {
  Token token = kUntouched;
  return reply(pkt, token);
}

// --- requests ------------------------------------------------------------------------------

TEST(DnsProtocol, AcceptsQueryWithIdAsToken) {
  Token token = kUntouched;
  EXPECT_EQ(request(makeQuery(0xabcd), token), Check::Ok);
  EXPECT_EQ(token, 0xabcdu);
}

TEST(DnsProtocol, ReadsIdBigEndian) {
  Token token = kUntouched;
  ASSERT_EQ(request(makeDnsHeader(0x0102, 0x01, 0x00), token), Check::Ok);
  EXPECT_EQ(token, 0x0102u);
}

TEST(DnsProtocol, AcceptsIdZeroAndAllOnes) {
  Token token = kUntouched;
  ASSERT_EQ(request(makeQuery(0x0000), token), Check::Ok);
  EXPECT_EQ(token, 0u);
  ASSERT_EQ(request(makeQuery(0xffff), token), Check::Ok);
  EXPECT_EQ(token, 0xffffu);
}

TEST(DnsProtocol, AcceptsBareTwelveByteHeaderAsQuery) {
  EXPECT_EQ(request(makeDnsHeader(7, 0x00, 0x00)), Check::Ok);
}

TEST(DnsProtocol, IgnoresFlagsOtherThanQrInQuery) {
  // Opcode, AA, TC, RD all set in byte 2, and RA/Z/RCODE in byte 3: still a query.
  EXPECT_EQ(request(makeDnsHeader(7, 0x7f, 0xff)), Check::Ok);
}

TEST(DnsProtocol, RejectsResponseSentAsRequestAsWrongKind) {
  Token token = kUntouched;
  EXPECT_EQ(request(makeResponse(0xabcd), token), Check::WrongKind);
  EXPECT_EQ(token, kUntouched);
}

TEST(DnsProtocol, RejectsQrBitAloneAsWrongKind) {
  EXPECT_EQ(request(makeDnsHeader(7, 0x80, 0x00)), Check::WrongKind);
}

TEST(DnsProtocol, ReadsQrFromThirdByteNotFourth) {
  // 0x80 in byte 3 is RA, which a query may carry; it must not be taken for QR.
  EXPECT_EQ(request(makeDnsHeader(7, 0x00, 0x80)), Check::Ok);
  EXPECT_EQ(reply(makeDnsHeader(7, 0x00, 0x80)), Check::WrongKind);
}

TEST(DnsProtocol, RejectsEmptyRequestAsMalformed) {
  EXPECT_EQ(request(Packet{}), Check::Malformed);
}

TEST(DnsProtocol, RejectsRequestShorterThanHeaderAsMalformed) {
  const Packet query = makeQuery(0xabcd);
  for (std::size_t length = 0; length < 12; ++length) {
    const Packet truncated(query.begin(), query.begin() + static_cast<std::ptrdiff_t>(length));
    Token token = kUntouched;
    EXPECT_EQ(request(truncated, token), Check::Malformed) << "length " << length;
    EXPECT_EQ(token, kUntouched);
  }
}

// --- replies -------------------------------------------------------------------------------

TEST(DnsProtocol, AcceptsResponseWithIdAsToken) {
  Token token = kUntouched;
  EXPECT_EQ(reply(makeResponse(0x1f2e), token), Check::Ok);
  EXPECT_EQ(token, 0x1f2eu);
}

TEST(DnsProtocol, ReplyTokenMatchesTheQueryItAnswers) {
  Token requestToken = 0;
  Token replyToken = 1;
  ASSERT_EQ(request(makeQuery(0x5a5a), requestToken), Check::Ok);
  ASSERT_EQ(reply(makeResponse(0x5a5a), replyToken), Check::Ok);
  EXPECT_EQ(replyToken, requestToken);
}

TEST(DnsProtocol, AcceptsErrorResponse) {
  // SERVFAIL with no answers is still an answer the client is waiting for.
  EXPECT_EQ(reply(makeDnsHeader(9, 0x81, 0x82, 1)), Check::Ok);
}

TEST(DnsProtocol, AcceptsResponseLongerThanQuery) {
  const Packet query = makeQuery(1);
  const Packet response = makeResponse(1);
  ASSERT_GT(response.size(), query.size());
  EXPECT_EQ(reply(response), Check::Ok);
}

TEST(DnsProtocol, RejectsQuerySentAsReplyAsWrongKind) {
  Token token = kUntouched;
  EXPECT_EQ(reply(makeQuery(0xabcd), token), Check::WrongKind);
  EXPECT_EQ(token, kUntouched);
}

TEST(DnsProtocol, RejectsEmptyReplyAsMalformed) {
  EXPECT_EQ(reply(Packet{}), Check::Malformed);
}

TEST(DnsProtocol, RejectsReplyShorterThanHeaderAsMalformed) {
  const Packet response = makeResponse(0xabcd);
  for (std::size_t length = 0; length < 12; ++length) {
    const Packet truncated(response.begin(), response.begin() + static_cast<std::ptrdiff_t>(length));
    EXPECT_EQ(reply(truncated), Check::Malformed) << "length " << length;
  }
}

TEST(DnsProtocol, ChecksOnlyTheBytesInTheSpan) {
  const Packet query = makeQuery(3);
  const std::span<const std::uint8_t> window(query.data(), 11);
  Token token = kUntouched;
  EXPECT_EQ(checkRequest(Preset::Dns, window, token), Check::Malformed);
  EXPECT_EQ(checkReply(Preset::Dns, window, token), Check::Malformed);
}

// --- flags ---------------------------------------------------------------------------------

TEST(DnsProtocol, MatchesRepliesByToken) {
  EXPECT_TRUE(usesTokens(Preset::Dns));
}

TEST(DnsProtocol, DoesNotBoundReplyLengthByRequest) {
  EXPECT_FALSE(repliesBoundedByRequest(Preset::Dns));
}

// --- token hooks (shared upstream sockets) ---------------------------------------------------

constexpr std::uint16_t kClientId = 0xabcd;
constexpr std::uint16_t kUpstreamId = 0x1234;

const Protocol& dnsProtocol() { return protocolOf(Preset::Dns); }

using test::differingBytes;

TEST(DnsTokens, RewriteReplacesOnlyTheId) {
  const Packet original = makeQuery(kClientId);
  Packet pkt = original;
  ASSERT_TRUE(dnsProtocol().rewriteRequestToken(pkt, kUpstreamId));
  ASSERT_EQ(pkt.size(), original.size());
  EXPECT_EQ(differingBytes(pkt, original), (std::vector<std::size_t>{0, 1}));
  Token token = kUntouched;
  ASSERT_EQ(request(pkt, token), Check::Ok);
  EXPECT_EQ(token, kUpstreamId);
}

TEST(DnsTokens, RestoreReplacesOnlyTheId) {
  const Packet upstream = makeResponse(kUpstreamId);
  Packet pkt = upstream;
  ASSERT_TRUE(dnsProtocol().restoreReplyToken(pkt, kClientId));
  EXPECT_EQ(differingBytes(pkt, upstream), (std::vector<std::size_t>{0, 1}));
}

TEST(DnsTokens, ReplyToARewrittenQueryIsMatchedAndRestoredToTheClientsBytes) {
  Packet query = makeQuery(kClientId);
  Token clientToken = 0;
  ASSERT_EQ(request(query, clientToken), Check::Ok);
  ASSERT_TRUE(dnsProtocol().rewriteRequestToken(query, kUpstreamId));
  Token sentToken = 0;
  ASSERT_EQ(request(query, sentToken), Check::Ok);

  Packet response = makeResponse(kUpstreamId);  // the resolver answers the ID it was sent
  Token replyToken = 0;
  ASSERT_EQ(reply(response, replyToken), Check::Ok);
  EXPECT_EQ(replyToken, sentToken);

  ASSERT_TRUE(dnsProtocol().restoreReplyToken(response, clientToken));
  EXPECT_EQ(response, makeResponse(kClientId));  // what the client would have got directly
  ASSERT_EQ(reply(response, replyToken), Check::Ok);
  EXPECT_EQ(replyToken, clientToken);
}

TEST(DnsTokens, RewriteThenRewriteBackGivesTheOriginalBytes) {
  const Packet original = makeQuery(kClientId);
  Packet pkt = original;
  ASSERT_TRUE(dnsProtocol().rewriteRequestToken(pkt, kUpstreamId));
  ASSERT_NE(pkt, original);
  ASSERT_TRUE(dnsProtocol().rewriteRequestToken(pkt, kClientId));
  EXPECT_EQ(pkt, original);
}

TEST(DnsTokens, RefuseATokenWiderThanTheId) {
  EXPECT_EQ(dnsProtocol().token_field.size, 2u);
  const Packet original = makeQuery(kClientId);
  Packet pkt = original;
  EXPECT_FALSE(dnsProtocol().rewriteRequestToken(pkt, 0x10000));
  EXPECT_FALSE(dnsProtocol().restoreReplyToken(pkt, 0x1'0000'abcdULL));
  EXPECT_EQ(pkt, original);
  EXPECT_TRUE(dnsProtocol().rewriteRequestToken(pkt, 0xffff));
}

TEST(DnsTokens, LeaveADatagramTooShortForTheIdUntouched) {
  for (const Packet& original : {Packet{}, Packet{0x42}}) {
    Packet pkt = original;
    EXPECT_FALSE(dnsProtocol().rewriteRequestToken(pkt, kUpstreamId));
    EXPECT_FALSE(dnsProtocol().restoreReplyToken(pkt, kClientId));
    EXPECT_EQ(pkt, original);
  }
}

}  // namespace
}  // namespace udpx

namespace udpx {
namespace {

// --- truncated answers (TC) ------------------------------------------------------------------

TEST(DnsProtocol, ATruncatedAnswerIsOneWithTheTcBit) {
  const Protocol& dns = protocolOf(Preset::Dns);
  Packet cut = makeResponse(7);
  cut[2] |= 0x02;  // TC, in the first flags byte
  EXPECT_EQ(reply(cut), Check::Ok);  // still passed on: the client learns to retry over TCP
  EXPECT_TRUE(dns.replyTruncated(cut));
  EXPECT_FALSE(dns.replyTruncated(makeResponse(7)));
  // The bit beside it (AA 0x04, RD 0x01) and the second flags byte are not TC.
  Packet other = makeResponse(7);
  other[2] |= 0x05;
  other[3] = 0xff;
  EXPECT_FALSE(dns.replyTruncated(other));
  EXPECT_FALSE(dns.replyTruncated(Packet{0x00, 0x07, 0x82}));  // too short for a header
}

TEST(DnsProtocol, OtherProtocolsHaveNoTruncatedReplies) {
  Packet cut = makeResponse(7);
  cut[2] |= 0x02;
  for (const Preset p : {Preset::Ntp, Preset::Syslog, Preset::Raw}) {
    EXPECT_FALSE(protocolOf(p).replyTruncated(cut)) << presetName(p);
  }
}

}  // namespace
}  // namespace udpx

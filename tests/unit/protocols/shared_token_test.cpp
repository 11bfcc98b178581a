// The shared-socket token hooks (Protocol::shared_token): DNS IDs and NTP cookies rewritten and
// restored, long NTP requests untouched, interleaved NTP replies matched through the second key.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "protocols/protocol.h"

namespace udpx {
namespace {

using Packet = std::vector<std::uint8_t>;

constexpr std::size_t kOriginAt = 24, kReceiveAt = 32, kTransmitAt = 40;

void putBe64(Packet& p, std::size_t at, std::uint64_t v) {
  for (std::size_t i = 0; i < 8; ++i) p[at + i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
}
std::uint64_t getBe64(const Packet& p, std::size_t at) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = (v << 8) | p[at + i];
  return v;
}

Packet ntpRequest(std::uint64_t transmit, std::uint64_t receive = 0, std::size_t len = 48) {
  Packet p(len, 0);
  p[0] = (4 << 3) | 3;
  putBe64(p, kTransmitAt, transmit);
  putBe64(p, kReceiveAt, receive);
  return p;
}

// What a server does: mode 4, origin = the request's transmit (basic) or receive (interleaved).
Packet ntpReply(const Packet& req, bool interleaved) {
  Packet r(48, 0);
  r[0] = (4 << 3) | 4;
  r[1] = 2;
  putBe64(r, kOriginAt, getBe64(req, interleaved ? kReceiveAt : kTransmitAt));
  putBe64(r, kTransmitAt, 0x1111222233334444ULL);
  return r;
}

// Shares a request as the data path does; returns its SharedToken.
SharedToken share(const Protocol& p, Packet& req, Token random) {
  Token token = 0;
  EXPECT_EQ(p.checkRequest(req, token), Check::Ok);
  SharedToken st;
  p.shared_token->choose(req, token, random, st);
  p.shared_token->apply(req, st);
  return st;
}

TEST(SharedToken, OnlyProtocolsWithReplyTokensShare) {
  EXPECT_TRUE(protocolOf(Preset::Ntp).canShareUpstream());
  EXPECT_TRUE(protocolOf(Preset::Dns).canShareUpstream());
  EXPECT_FALSE(protocolOf(Preset::Syslog).canShareUpstream());
  EXPECT_FALSE(protocolOf(Preset::Raw).canShareUpstream());
}

TEST(SharedToken, NtpCookieReplacesTheTransmitTimestampAndComesBackAsOrigin) {
  const Protocol& p = protocolOf(Preset::Ntp);
  Packet req = ntpRequest(0xaaaabbbbccccddddULL);
  const Packet before = req;
  const SharedToken st = share(p, req, 0x0123456789abcdefULL);
  EXPECT_EQ(st.key, 0x0123456789abcdefULL);
  EXPECT_EQ(getBe64(req, kTransmitAt), st.key);
  // Only the transmit timestamp changed (the receive timestamp was 0: left alone).
  for (std::size_t i = 0; i < kTransmitAt; ++i) EXPECT_EQ(req[i], before[i]) << i;
  Packet reply = ntpReply(req, false);
  Token token = 0;
  ASSERT_EQ(p.checkReply(reply, token), Check::Ok);
  EXPECT_EQ(token, st.key);
  p.shared_token->restore(reply, st, false);
  EXPECT_EQ(getBe64(reply, kOriginAt), 0xaaaabbbbccccddddULL);
}

TEST(SharedToken, NtpKissOfDeathGetsItsOriginBackToo) {
  const Protocol& p = protocolOf(Preset::Ntp);
  Packet req = ntpRequest(77);
  const SharedToken st = share(p, req, 99);
  Packet kod = ntpReply(req, false);
  kod[1] = 0;  // stratum 0
  kod[12] = 'R', kod[13] = 'A', kod[14] = 'T', kod[15] = 'E';
  Token token = 0;
  ASSERT_EQ(p.checkReply(kod, token), Check::Ok);
  p.shared_token->restore(kod, st, false);
  EXPECT_EQ(getBe64(kod, kOriginAt), 77u);
}

TEST(SharedToken, NtpRequestsWithAMacPassByteForByte) {
  const Protocol& p = protocolOf(Preset::Ntp);
  Packet req = ntpRequest(0x5555666677778888ULL, 0x1234, 48 + 24);  // key id + SHA1 digest
  for (std::size_t i = 48; i < req.size(); ++i) req[i] = static_cast<std::uint8_t>(i);
  const Packet before = req;
  const SharedToken st = share(p, req, 0xfeed);
  EXPECT_EQ(req, before);
  EXPECT_EQ(st.key, 0x5555666677778888ULL);  // known by the client's own transmit timestamp
  EXPECT_EQ(st.flags & kSharedRewritten, 0);
  Packet reply = ntpReply(req, false);
  const Packet reply_before = reply;
  p.shared_token->restore(reply, st, false);
  EXPECT_EQ(reply, reply_before);
}

TEST(SharedToken, NtpLongRequestNamesItsOwnReceiveTimestampAsASecondKey) {
  // chrony with xleave and a symmetric key: the receive timestamp cannot be rewritten (the MAC
  // covers it), so the interleaved reply's origin is the client's own, a second key.
  const Protocol& p = protocolOf(Preset::Ntp);
  Packet req = ntpRequest(0x5555666677778888ULL, 0x5555000011112222ULL, 48 + 24);
  for (std::size_t i = 48; i < req.size(); ++i) req[i] = static_cast<std::uint8_t>(i);
  const Packet before = req;
  const SharedToken st = share(p, req, 0xfeed);
  EXPECT_EQ(req, before);
  EXPECT_EQ(st.key, 0x5555666677778888ULL);
  EXPECT_EQ(st.flags, kSharedOwnAlt);
  EXPECT_EQ(st.original_alt, 0x5555000011112222ULL);
  Packet reply = ntpReply(req, true);
  Token token = 0;
  ASSERT_EQ(p.checkReply(reply, token), Check::Ok);
  EXPECT_EQ(token, st.original_alt);
  const Packet reply_before = reply;
  p.shared_token->restore(reply, st, true);
  EXPECT_EQ(reply, reply_before);
}

TEST(SharedToken, NtpLongRequestWithoutAnInterleavedReceiveTimestampHasOneKey) {
  const Protocol& p = protocolOf(Preset::Ntp);
  Packet zero = ntpRequest(0x77, 0, 48 + 24);
  EXPECT_EQ(share(p, zero, 1).flags, 0);
  Packet basic = ntpRequest(0x77, 0x77, 48 + 24);  // receive = transmit: "basic mode, please"
  EXPECT_EQ(share(p, basic, 1).flags, 0);
}

TEST(SharedToken, NtpInterleavedReplyIsMatchedThroughTheReceiveTimestamp) {
  const Protocol& p = protocolOf(Preset::Ntp);
  Packet req = ntpRequest(0x1000000000000001ULL, 0x2000000000000002ULL);
  const SharedToken st = share(p, req, 0x3333);
  ASSERT_NE(st.flags & kSharedAlt, 0);
  EXPECT_NE(getBe64(req, kReceiveAt), 0x2000000000000002ULL);
  EXPECT_NE(getBe64(req, kReceiveAt), getBe64(req, kTransmitAt));  // still "interleaved" to the server
  Packet reply = ntpReply(req, true);
  Token token = 0;
  ASSERT_EQ(p.checkReply(reply, token), Check::Ok);
  EXPECT_NE(token, st.key);
  EXPECT_EQ(p.shared_token->alt_key(token), st.key);
  p.shared_token->restore(reply, st, true);
  EXPECT_EQ(getBe64(reply, kOriginAt), 0x2000000000000002ULL);
}

TEST(SharedToken, NtpReceiveEqualToTransmitStaysEqual) {
  // A client telling the server "basic mode" (receive = transmit) must keep saying so.
  const Protocol& p = protocolOf(Preset::Ntp);
  Packet req = ntpRequest(0x4444, 0x4444);
  const SharedToken st = share(p, req, 0x9999);
  EXPECT_EQ(getBe64(req, kReceiveAt), getBe64(req, kTransmitAt));
  Packet reply = ntpReply(req, true);
  p.shared_token->restore(reply, st, false);
  EXPECT_EQ(getBe64(reply, kOriginAt), 0x4444u);
}

TEST(SharedToken, DnsIdIsRewrittenAndRestored) {
  const Protocol& p = protocolOf(Preset::Dns);
  Packet q{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 0, 1, 0, 1};
  const Packet before = q;
  const SharedToken st = share(p, q, 0xabcdef0123ULL);
  EXPECT_EQ(st.key, 0x0123u);
  EXPECT_EQ(q[0], 0x01);
  EXPECT_EQ(q[1], 0x23);
  EXPECT_TRUE(std::equal(q.begin() + 2, q.end(), before.begin() + 2));
  Packet r = q;
  r[2] |= 0x80;  // QR
  Token token = 0;
  ASSERT_EQ(p.checkReply(r, token), Check::Ok);
  EXPECT_EQ(token, st.key);
  p.shared_token->restore(r, st, false);
  EXPECT_EQ(r[0], 0x12);
  EXPECT_EQ(r[1], 0x34);
}

}  // namespace
}  // namespace udpx

// Tests for SockAddr, splitHostPort, Cidr and the default ACL (src/net/address.cpp).
#include "net/address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>

namespace udpx {
namespace {

SockAddr mustParse(std::string_view text) {
  auto addr = SockAddr::parse(text);
  EXPECT_TRUE(addr.has_value()) << text;
  return addr.value_or(SockAddr{});
}

SockAddr ip(std::string_view text) {
  auto addr = SockAddr::parseIp(text, 4000);
  EXPECT_TRUE(addr.has_value()) << text;
  return addr.value_or(SockAddr{});
}

Cidr cidr(std::string_view text) {
  std::string error;
  auto c = Cidr::parse(text, error);
  EXPECT_TRUE(c.has_value()) << text << ": " << error;
  return c.value_or(Cidr{});
}

std::string cidrError(std::string_view text) {
  std::string error;
  EXPECT_FALSE(Cidr::parse(text, error).has_value()) << text;
  return error;
}

TEST(SockAddr, DefaultIsEmpty) {
  const SockAddr a;
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.family(), AF_UNSPEC);
  EXPECT_EQ(a.port(), 0);
  EXPECT_EQ(a.length(), 0u);
  EXPECT_FALSE(a.isWildcard());
  EXPECT_EQ(a, SockAddr{});
}

TEST(SockAddr, ParsesIpv4WithPort) {
  const SockAddr a = mustParse("192.168.0.1:123");
  EXPECT_EQ(a.family(), AF_INET);
  EXPECT_EQ(a.port(), 123);
  EXPECT_EQ(a.length(), sizeof(sockaddr_in));
  EXPECT_EQ(a.v4().sin_addr.s_addr, htonl(0xc0a80001));
  EXPECT_EQ(a.toString(), "192.168.0.1:123");
  EXPECT_EQ(a.ipString(), "192.168.0.1");
}

TEST(SockAddr, ParsesBracketedIpv6WithPort) {
  const SockAddr a = mustParse("[fd00::1]:65535");
  EXPECT_EQ(a.family(), AF_INET6);
  EXPECT_EQ(a.port(), 65535);
  EXPECT_EQ(a.length(), sizeof(sockaddr_in6));
  EXPECT_EQ(a.toString(), "[fd00::1]:65535");
  EXPECT_EQ(a.ipString(), "fd00::1");
}

TEST(SockAddr, ParsesNumericZoneOfLinkLocalAddress) {
  const SockAddr a = mustParse("[fe80::1%3]:123");
  EXPECT_EQ(a.v6().sin6_scope_id, 3u);
  EXPECT_EQ(a.toString(), "[fe80::1%3]:123");
  EXPECT_FALSE(SockAddr::parse("[fe80::1%]:123").has_value());
  EXPECT_FALSE(SockAddr::parse("[fe80::1%no-such-interface0]:123").has_value());
}

TEST(SockAddr, ParseRequiresPortInRange) {
  EXPECT_FALSE(SockAddr::parse("192.168.0.1").has_value());
  EXPECT_FALSE(SockAddr::parse("192.168.0.1:").has_value());
  EXPECT_FALSE(SockAddr::parse("192.168.0.1:0").has_value());
  EXPECT_FALSE(SockAddr::parse("192.168.0.1:65536").has_value());
  EXPECT_FALSE(SockAddr::parse("192.168.0.1:-1").has_value());
  EXPECT_FALSE(SockAddr::parse("[::1]").has_value());
  EXPECT_TRUE(SockAddr::parse("192.168.0.1:1").has_value());
}

TEST(SockAddr, ParseRejectsHostNamesAndMalformedAddresses) {
  EXPECT_FALSE(SockAddr::parse("localhost:123").has_value());
  EXPECT_FALSE(SockAddr::parse("256.1.1.1:123").has_value());
  EXPECT_FALSE(SockAddr::parse("fd00::1:123").has_value());  // v6 must be bracketed
  EXPECT_FALSE(SockAddr::parse("[1.2.3.4]:123").has_value());
  EXPECT_FALSE(SockAddr::parse("[fd00::1:123").has_value());
  EXPECT_FALSE(SockAddr::parse("").has_value());
  EXPECT_FALSE(SockAddr::parse(":123").has_value());
}

TEST(SockAddr, ParseRejectsInetAtonShorthands) {
  // getaddrinfo would read these as 127.0.0.1; a config should say what it means.
  EXPECT_FALSE(SockAddr::parseIp("127.1", 1).has_value());
  EXPECT_FALSE(SockAddr::parseIp("0x7f000001", 1).has_value());
  EXPECT_FALSE(SockAddr::parseIp("2130706433", 1).has_value());
}

TEST(SockAddr, ParseIpAllowsPortZeroAndBrackets) {
  const auto a = SockAddr::parseIp("10.1.2.3", 0);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->port(), 0);
  const auto b = SockAddr::parseIp("[::1]", 53);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->toString(), "[::1]:53");
  EXPECT_EQ(SockAddr::parseIp("::1", 53), b);
  EXPECT_FALSE(SockAddr::parseIp("", 53).has_value());
  EXPECT_FALSE(SockAddr::parseIp("example.org", 53).has_value());
}

TEST(SockAddr, SetPortChangesOnlyThePort) {
  SockAddr a = ip("10.0.0.1");
  a.setPort(53);
  EXPECT_EQ(a.toString(), "10.0.0.1:53");
  SockAddr b = ip("fd00::2");
  b.setPort(5353);
  EXPECT_EQ(b.toString(), "[fd00::2]:5353");
  SockAddr empty;
  empty.setPort(1);
  EXPECT_TRUE(empty.empty());
}

TEST(SockAddr, DetectsWildcards) {
  EXPECT_TRUE(mustParse("0.0.0.0:123").isWildcard());
  EXPECT_TRUE(mustParse("[::]:123").isWildcard());
  EXPECT_FALSE(mustParse("127.0.0.1:123").isWildcard());
  EXPECT_FALSE(mustParse("[::1]:123").isWildcard());
}

TEST(SockAddr, CopiesKernelAddressesAndRejectsUnknownFamilies) {
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(1234);
  inet_pton(AF_INET6, "2001:db8::7", &sin6.sin6_addr);
  const SockAddr a(reinterpret_cast<const sockaddr*>(&sin6), sizeof(sin6));
  EXPECT_EQ(a.toString(), "[2001:db8::7]:1234");

  sockaddr unixAddr{};
  unixAddr.sa_family = AF_UNIX;
  EXPECT_TRUE(SockAddr(&unixAddr, sizeof(unixAddr)).empty());
  // A length too short for the family is refused rather than read past.
  const SockAddr shortLen(reinterpret_cast<const sockaddr*>(&sin6), sizeof(sockaddr_in));
  EXPECT_TRUE(shortLen.empty());
  EXPECT_TRUE(SockAddr(nullptr, 0).empty());
}

TEST(SockAddr, EqualityAndHashIgnorePaddingAndFlowInfo) {
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(123);
  sin.sin_addr.s_addr = htonl(0x0a000001);
  sockaddr_in dirty = sin;
  std::memset(dirty.sin_zero, 0xab, sizeof(dirty.sin_zero));
  const SockAddr a(reinterpret_cast<const sockaddr*>(&sin), sizeof(sin));
  const SockAddr b(reinterpret_cast<const sockaddr*>(&dirty), sizeof(dirty));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.hash(), b.hash());

  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(123);
  inet_pton(AF_INET6, "fd00::1", &sin6.sin6_addr);
  sockaddr_in6 flow = sin6;
  flow.sin6_flowinfo = htonl(0x12345);
  const SockAddr c(reinterpret_cast<const sockaddr*>(&sin6), sizeof(sin6));
  const SockAddr d(reinterpret_cast<const sockaddr*>(&flow), sizeof(flow));
  EXPECT_EQ(c, d);
  EXPECT_EQ(c.hash(), d.hash());
}

TEST(SockAddr, DiffersByPortAddressFamilyAndZone) {
  EXPECT_NE(mustParse("10.0.0.1:1"), mustParse("10.0.0.1:2"));
  EXPECT_NE(mustParse("10.0.0.1:1"), mustParse("10.0.0.2:1"));
  EXPECT_NE(mustParse("10.0.0.1:1"), mustParse("[::ffff:10.0.0.1]:1"));
  EXPECT_NE(mustParse("[fe80::1%1]:1"), mustParse("[fe80::1%2]:1"));
  EXPECT_NE(mustParse("10.0.0.1:1").hash(), mustParse("10.0.0.1:2").hash());
  EXPECT_NE(mustParse("10.0.0.1:1").hash(), mustParse("10.0.0.2:1").hash());
  EXPECT_NE(mustParse("[fd00::1]:1").hash(), mustParse("[fd00::2]:1").hash());
  EXPECT_EQ(mustParse("[fd00:0::1]:9"), mustParse("[fd00::1]:9"));
  EXPECT_EQ(mustParse("[fd00:0::1]:9").hash(), mustParse("[fd00::1]:9").hash());
}

TEST(SplitHostPort, SplitsEveryAcceptedForm) {
  struct Case {
    const char* text;
    const char* host;
    std::optional<std::uint16_t> port;
  };
  for (const Case& c : {Case{"example.org", "example.org", std::nullopt},
                        Case{"example.org:53", "example.org", 53},
                        Case{"10.0.0.1:123", "10.0.0.1", 123},
                        Case{"[fd00::1]:514", "fd00::1", 514},
                        Case{"[fd00::1]", "fd00::1", std::nullopt},
                        Case{"host:65535", "host", 65535}}) {
    std::string host = "stale";
    std::optional<std::uint16_t> port = 9;
    std::string error;
    ASSERT_TRUE(splitHostPort(c.text, host, port, error)) << c.text << ": " << error;
    EXPECT_EQ(host, c.host) << c.text;
    EXPECT_EQ(port, c.port) << c.text;
  }
}

TEST(SplitHostPort, ExplainsMalformedForms) {
  struct Case {
    const char* text;
    const char* error;
  };
  for (const Case& c :
       {Case{"", "the host is empty"}, Case{":53", "the host is empty"},
        Case{"[]:53", "the IPv6 address between '[' and ']' is empty"},
        Case{"host:", "the port after ':' is empty"},
        Case{"host:dns", "port \"dns\" is not a number"},
        Case{"host:0", "port 0 is out of range 1..65535"},
        Case{"host:65536", "port 65536 is out of range 1..65535"},
        Case{"host:99999999999999", "port 99999999999999 is out of range 1..65535"},
        Case{"[fd00::1:53", "missing ']' after the IPv6 address"},
        Case{"fd00::1]:53", "']' without a matching '['"},
        Case{"[fd00::1]53", "unexpected text after ']'; write [IPv6]:PORT"},
        Case{"[1.2.3.4]:53", "brackets are only for IPv6 addresses"},
        Case{"fd00::1",
             "an IPv6 address must be written in brackets: [fd00::1] or [fd00::1]:123"}}) {
    std::string host;
    std::optional<std::uint16_t> port;
    std::string error;
    EXPECT_FALSE(splitHostPort(c.text, host, port, error)) << c.text;
    EXPECT_EQ(error, c.error) << c.text;
  }
}

TEST(Cidr, ParsesPrefixesAndBareAddresses) {
  EXPECT_EQ(cidr("192.168.0.0/16").toString(), "192.168.0.0/16");
  EXPECT_EQ(cidr("fd00::/8").toString(), "fd00::/8");
  EXPECT_EQ(cidr("10.1.2.3").toString(), "10.1.2.3/32");
  EXPECT_EQ(cidr("::1").toString(), "::1/128");
  EXPECT_EQ(cidr("0.0.0.0/0").toString(), "0.0.0.0/0");
  EXPECT_EQ(cidr("::/0").toString(), "::/0");
  EXPECT_EQ(cidr("10.0.0.0/8").family(), AF_INET);
  EXPECT_EQ(cidr("fc00::/7").family(), AF_INET6);
}

TEST(Cidr, RejectsHostBitsBelowThePrefix) {
  EXPECT_EQ(cidrError("192.168.1.1/16"),
            "host bits are set below the /16 prefix; did you mean 192.168.0.0/16?");
  EXPECT_EQ(cidrError("172.31.0.0/11"),
            "host bits are set below the /11 prefix; did you mean 172.0.0.0/11?");
  EXPECT_EQ(cidrError("fd00::1/64"),
            "host bits are set below the /64 prefix; did you mean fd00::/64?");
}

TEST(Cidr, RejectsPrefixLengthsOutOfRange) {
  EXPECT_EQ(cidrError("10.0.0.0/33"),
            "prefix length /33 is out of range for IPv4, which allows /0../32");
  EXPECT_EQ(cidrError("fd00::/129"),
            "prefix length /129 is out of range for IPv6, which allows /0../128");
  EXPECT_EQ(cidrError("10.0.0.0/"), "prefix length \"\" is not a number");
  EXPECT_EQ(cidrError("10.0.0.0/-1"), "prefix length \"-1\" is not a number");
  EXPECT_EQ(cidrError("10.0.0.0/8/8"), "prefix length \"8/8\" is not a number");
}

TEST(Cidr, RejectsThingsThatAreNotAddresses) {
  EXPECT_EQ(cidrError("/8"), "the address before '/' is empty");
  EXPECT_EQ(cidrError("example.org/8"), "\"example.org\" is not an IPv4 or IPv6 address");
  EXPECT_EQ(cidrError("10.0.0/8"), "\"10.0.0\" is not an IPv4 or IPv6 address");
}

TEST(Cidr, MatchesAddressesOfItsFamily) {
  const Cidr net = cidr("172.16.0.0/12");
  EXPECT_TRUE(net.contains(ip("172.16.0.0")));
  EXPECT_TRUE(net.contains(ip("172.31.255.255")));
  EXPECT_FALSE(net.contains(ip("172.32.0.0")));
  EXPECT_FALSE(net.contains(ip("172.15.255.255")));
  EXPECT_FALSE(net.contains(ip("fd00::1")));
  EXPECT_FALSE(net.contains(SockAddr{}));

  const Cidr v6 = cidr("fe80::/10");
  EXPECT_TRUE(v6.contains(ip("fe80::1")));
  EXPECT_TRUE(v6.contains(ip("febf:ffff::1")));
  EXPECT_FALSE(v6.contains(ip("fec0::1")));
  EXPECT_FALSE(v6.contains(ip("10.0.0.1")));

  EXPECT_TRUE(cidr("10.1.2.3").contains(ip("10.1.2.3")));
  EXPECT_FALSE(cidr("10.1.2.3").contains(ip("10.1.2.4")));
}

TEST(Cidr, MatchesIpv4MappedIpv6ClientsAgainstIpv4Prefixes) {
  EXPECT_TRUE(cidr("10.0.0.0/8").contains(ip("::ffff:10.9.8.7")));
  EXPECT_FALSE(cidr("10.0.0.0/8").contains(ip("::ffff:11.0.0.1")));
  // Only the ::ffff:0:0/96 range is IPv4; other v6 addresses ending in the same bytes are not.
  EXPECT_FALSE(cidr("10.0.0.0/8").contains(ip("fd00::a09:807")));
  EXPECT_FALSE(cidr("10.0.0.0/8").contains(ip("::a09:807")));
}

TEST(Cidr, ZeroPrefixOpensItsWholeFamily) {
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(ip("8.8.8.8")));
  EXPECT_TRUE(cidr("0.0.0.0/0").contains(ip("::ffff:8.8.8.8")));
  EXPECT_FALSE(cidr("0.0.0.0/0").contains(ip("2001:db8::1")));
  EXPECT_TRUE(cidr("::/0").contains(ip("2001:db8::1")));
  EXPECT_FALSE(cidr("::/0").contains(ip("8.8.8.8")));
}

TEST(DefaultAllowList, HoldsPrivateLoopbackAndLinkLocalRanges) {
  std::vector<std::string> texts;
  for (const Cidr& c : defaultAllowList()) texts.push_back(c.toString());
  EXPECT_EQ(texts, (std::vector<std::string>{"127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12",
                                             "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10",
                                             "::1/128", "fc00::/7", "fe80::/10"}));
}

TEST(DefaultAllowList, AdmitsLocalClientsAndRefusesPublicOnes) {
  auto allowed = [](std::string_view text) {
    const SockAddr a = ip(text);
    for (const Cidr& c : defaultAllowList()) {
      if (c.contains(a)) return true;
    }
    return false;
  };
  for (const char* local : {"127.0.0.1", "10.200.0.1", "172.20.1.1", "192.168.1.10",
                            "169.254.3.4", "100.100.0.1", "::1", "fd12::5", "fe80::1",
                            "::ffff:192.168.1.10"}) {
    EXPECT_TRUE(allowed(local)) << local;
  }
  for (const char* remote : {"8.8.8.8", "172.32.0.1", "100.128.0.1", "2001:db8::1",
                             "::ffff:8.8.8.8", "::2"}) {
    EXPECT_FALSE(allowed(remote)) << remote;
  }
}

}  // namespace
}  // namespace udpx

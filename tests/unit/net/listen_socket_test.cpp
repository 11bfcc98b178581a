// Tests for listening sockets (src/net/listen_socket.cpp): the one bind-error wording, opening
// and taking over sockets, and matching sockets to configured listen addresses.
#include "net/listen_socket.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

namespace udpx {
namespace {

// A malformed address throws, which fails the test.
SockAddr addr(std::string_view text) { return SockAddr::parse(text).value(); }
// An address with port 0 (which SockAddr::parse, like the config, refuses): "any port".
SockAddr anyPort(std::string_view ip) { return SockAddr::parseIp(ip, 0).value(); }

// A socket of `type` on 127.0.0.1, bound to a port the kernel picks unless `bind_it` is false.
UniqueFd loopbackSocket(int type, bool bind_it = true) {
  UniqueFd fd(socket(AF_INET, type | SOCK_CLOEXEC, 0));
  if (bind_it) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  return fd;
}

SockAddr localAddress(int fd) {
  sockaddr_in6 sa{};
  socklen_t len = sizeof sa;
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  return SockAddr(reinterpret_cast<const sockaddr*>(&sa), len);
}

int intOption(int fd, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  EXPECT_EQ(getsockopt(fd, level, name, &v, &len), 0);
  return v;
}

std::vector<ListenSlot> slotsFor(const std::vector<SockAddr>& addrs) {
  std::vector<ListenSlot> slots;
  for (const SockAddr& a : addrs) slots.push_back(ListenSlot{a, {}});
  return slots;
}

// ---- bindError ----

TEST(BindError, PortInUseNamesTheSsListingOfItsTransport) {
  const SockAddr a = addr("127.0.0.1:5300");
  EXPECT_EQ(bindError(EADDRINUSE, a, Transport::Udp),
            "Address already in use — another process already uses this port (see: ss -ulpn 'sport = :5300')");
  EXPECT_EQ(bindError(EADDRINUSE, a, Transport::Tcp),
            "Address already in use — another process already listens on this port (see: ss -tlpn 'sport = :5300')");
}

TEST(BindError, PrivilegedPortNeedsRootOnlyBelow1024) {
  EXPECT_EQ(bindError(EACCES, addr("0.0.0.0:123"), Transport::Udp),
            "Permission denied — ports below 1024 need root or CAP_NET_BIND_SERVICE");
  EXPECT_EQ(bindError(EACCES, addr("0.0.0.0:1023"), Transport::Udp),
            "Permission denied — ports below 1024 need root or CAP_NET_BIND_SERVICE");
  EXPECT_EQ(bindError(EACCES, addr("0.0.0.0:1024"), Transport::Udp), "Permission denied");
}

TEST(BindError, AddressNotLocalAndFamilyMissingHaveHints) {
  EXPECT_EQ(bindError(EADDRNOTAVAIL, addr("192.0.2.1:53"), Transport::Udp),
            "Cannot assign requested address — the address is not assigned to any local interface (see: ip address)");
  EXPECT_EQ(bindError(EAFNOSUPPORT, addr("[::1]:53"), Transport::Tcp),
            "Address family not supported by protocol — this host has no support for the address family (IPv6 "
            "disabled?)");
}

TEST(BindError, OtherErrorsAreStrerrorAlone) {
  EXPECT_EQ(bindError(EMFILE, addr("127.0.0.1:53"), Transport::Udp, {"; a", "; b", "; c"}),
            "Too many open files");
}

TEST(BindError, AdviceFollowsTheHintOfItsErrorOnly) {
  const BindAdvice advice{"; in use", "; privileged", "; not local"};
  EXPECT_EQ(bindError(EADDRINUSE, addr("127.0.0.1:9123"), Transport::Tcp, advice),
            "Address already in use — another process already listens on this port (see: ss -tlpn 'sport = :9123'); "
            "in use");
  EXPECT_EQ(bindError(EACCES, addr("127.0.0.1:80"), Transport::Tcp, advice),
            "Permission denied — ports below 1024 need root or CAP_NET_BIND_SERVICE; privileged");
  EXPECT_EQ(bindError(EACCES, addr("127.0.0.1:8080"), Transport::Tcp, advice), "Permission denied");
  EXPECT_EQ(bindError(EADDRNOTAVAIL, addr("192.0.2.1:9123"), Transport::Tcp, advice),
            "Cannot assign requested address — the address is not assigned to any local interface (see: ip "
            "address); not local");
  EXPECT_EQ(bindError(EAFNOSUPPORT, addr("[::1]:9123"), Transport::Tcp, advice),
            "Address family not supported by protocol — this host has no support for the address family (IPv6 "
            "disabled?)");
}

// ---- openListenSocket ----

TEST(OpenListenSocket, OpensANonBlockingSocketReportingDestinations) {
  std::string error;
  UniqueFd fd = openListenSocket(anyPort("127.0.0.1"), error);
  ASSERT_TRUE(fd.valid()) << error;
  EXPECT_NE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(intOption(fd.get(), IPPROTO_IP, IP_PKTINFO), 1);
  EXPECT_NE(localAddress(fd.get()).port(), 0);
}

TEST(OpenListenSocket, Ipv6SocketIsV6OnlyAndReportsDestinations) {
  std::string error;
  UniqueFd fd = openListenSocket(anyPort("::1"), error);
  if (!fd.valid() && error.rfind("Address family not supported", 0) == 0) GTEST_SKIP() << "no IPv6: " << error;
  ASSERT_TRUE(fd.valid()) << error;
  EXPECT_EQ(intOption(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY), 1);
  EXPECT_EQ(intOption(fd.get(), IPPROTO_IPV6, IPV6_RECVPKTINFO), 1);
}

TEST(OpenListenSocket, PortInUseIsTheUdpBindError) {
  UniqueFd taken = loopbackSocket(SOCK_DGRAM);
  const SockAddr a = localAddress(taken.get());
  std::string error;
  EXPECT_FALSE(openListenSocket(a, error).valid());
  EXPECT_EQ(error, bindError(EADDRINUSE, a, Transport::Udp));
}

// ---- boundUdpAddress, prepareInheritedSocket ----

TEST(BoundUdpAddress, IsTheAddressOfABoundUdpSocket) {
  UniqueFd fd = loopbackSocket(SOCK_DGRAM);
  std::string error;
  EXPECT_EQ(boundUdpAddress(fd.get(), error), localAddress(fd.get())) << error;
}

TEST(BoundUdpAddress, RefusesStreamUnboundAndNonSockets) {
  std::string error;
  UniqueFd stream = loopbackSocket(SOCK_STREAM);
  EXPECT_TRUE(boundUdpAddress(stream.get(), error).empty());
  EXPECT_EQ(error.rfind("not a datagram socket (SO_TYPE 1)", 0), 0u) << error;
  UniqueFd unbound = loopbackSocket(SOCK_DGRAM, false);
  EXPECT_TRUE(boundUdpAddress(unbound.get(), error).empty());
  EXPECT_EQ(error, "the socket is not bound to a port");
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  UniqueFd r(p[0]), w(p[1]);
  EXPECT_TRUE(boundUdpAddress(r.get(), error).empty());
  EXPECT_EQ(error.rfind("not a socket: ", 0), 0u) << error;
}

TEST(PrepareInheritedSocket, SetsWhatOpenListenSocketSets) {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM, 0));  // blocking, inheritable: as a parent might pass it
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  std::string error, warning;
  ASSERT_TRUE(prepareInheritedSocket(fd.get(), localAddress(fd.get()), error, warning)) << error;
  EXPECT_TRUE(warning.empty()) << warning;
  EXPECT_NE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(fd.get(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(intOption(fd.get(), IPPROTO_IP, IP_PKTINFO), 1);
}

// ---- matching sockets to listen addresses ----

TEST(ListenAddressMatches, EqualOrTheSameAddressForPortZero) {
  EXPECT_TRUE(listenAddressMatches(addr("127.0.0.1:53"), addr("127.0.0.1:53")));
  EXPECT_FALSE(listenAddressMatches(addr("127.0.0.1:53"), addr("127.0.0.1:54")));
  EXPECT_TRUE(listenAddressMatches(anyPort("127.0.0.1"), addr("127.0.0.1:54")));
  EXPECT_FALSE(listenAddressMatches(anyPort("127.0.0.1"), addr("127.0.0.2:54")));
  EXPECT_FALSE(listenAddressMatches(addr("0.0.0.0:53"), addr("127.0.0.1:53")));
}

TEST(FindListenSlot, IsTheSlotOfTheBoundAddress) {
  const std::vector<ListenSlot> slots = slotsFor({addr("127.0.0.1:53"), addr("127.0.0.1:123"), addr("[::1]:123")});
  EXPECT_EQ(findListenSlot(slots, addr("127.0.0.1:123")), 1u);
  EXPECT_EQ(findListenSlot(slots, addr("[::1]:123")), 2u);
  EXPECT_EQ(findListenSlot(slots, addr("127.0.0.1:514")), std::nullopt);
  EXPECT_EQ(findListenSlot(slots, addr("127.0.0.2:53")), std::nullopt);
}

TEST(FindListenSlot, SkipsSlotsThatHaveTheirSocket) {
  std::vector<ListenSlot> slots = slotsFor({addr("127.0.0.1:53"), anyPort("127.0.0.1")});
  slots[0].fd = loopbackSocket(SOCK_DGRAM);
  EXPECT_EQ(findListenSlot(slots, addr("127.0.0.1:53")), 1u);  // only the port-0 one is free
  slots[1].fd = loopbackSocket(SOCK_DGRAM);
  EXPECT_EQ(findListenSlot(slots, addr("127.0.0.1:53")), std::nullopt);
}

TEST(FindListenSlot, TheFirstFreeMatchWins) {
  const std::vector<ListenSlot> slots = slotsFor({anyPort("127.0.0.1"), addr("127.0.0.1:53")});
  EXPECT_EQ(findListenSlot(slots, addr("127.0.0.1:53")), 0u);
  EXPECT_EQ(findListenSlot({}, addr("127.0.0.1:53")), std::nullopt);
}

}  // namespace
}  // namespace udpx

// Proxy's rate limits (proxy_limits.cpp) driven in-process: loopback clients, a frontend with a
// real listener, socketpair upstreams, a manual clock; packets and counters checked together.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "dataplane/frontend.h"
#include "dataplane/proxy.h"
#include "net/event_ptr.h"
#include "net/listen_socket.h"

namespace udpx {
namespace {

using std::chrono::milliseconds;
using Bytes = std::vector<std::uint8_t>;

class PairUpstream : public UpstreamSockets {
 public:
  UniqueFd open(const SockAddr&, int& error) noexcept override {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
      error = errno;
      return {};
    }
    servers.emplace_back(sv[1]);
    return UniqueFd(sv[0]);
  }
  std::vector<UniqueFd> servers;
};

SockAddr boundAddress(int fd) {
  sockaddr_in6 sa{};
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return SockAddr(reinterpret_cast<const sockaddr*>(&sa), len);
}

UniqueFd clientOn(const std::string& ip) {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  const SockAddr a = *SockAddr::parseIp(ip, 0);
  if (bind(fd.get(), a.get(), a.length()) != 0) ADD_FAILURE() << "cannot bind a client to " << ip;
  return fd;
}

Bytes ntpRequest(std::uint64_t transmit, std::size_t len = 48) {
  Bytes p(len, 0);
  p[0] = (4 << 3) | 3;
  p[2] = 6;  // poll 2^6 s
  for (std::size_t i = 0; i < 8; ++i) p[40 + i] = static_cast<std::uint8_t>(transmit >> (56 - 8 * i));
  return p;
}

class ProxyLimits : public ::testing::Test {
 protected:
  TimePoint now = TimePoint{} + std::chrono::hours(1);
  EventBasePtr base{event_base_new()};
  PairUpstream upstream;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Frontend> fe;
  std::unique_ptr<Proxy> proxy;
  SockAddr listen;

  ProxyLimits() { event_base_priority_init(base.get(), 3); }

  void start(RateLimitConfig rate, std::uint32_t per_client = 0) {
    FrontendConfig c;
    c.name = c.backend = "ntp";
    c.preset = Preset::Ntp;
    std::string error;
    c.allow = {*Cidr::parse("127.0.0.0/8", error)};
    c.session_timeout = milliseconds(1000);
    c.max_sessions = 100000;
    c.responses = 1;
    c.max_datagram = 1024;
    c.rate = rate;
    c.max_sessions_per_client = per_client;
    BackendConfig bc;
    bc.name = "ntp";
    ServerConfig sc;
    sc.literal = *SockAddr::parse("127.0.0.1:9");
    sc.text = sc.literal->toString();
    bc.servers.push_back(sc);
    backend = std::make_unique<Backend>(bc, nullptr, nullptr);
    fe = std::make_unique<Frontend>(c, backend.get());
    UniqueFd fd = openListenSocket(*SockAddr::parseIp("127.0.0.1", 0), error);
    ASSERT_TRUE(fd.valid()) << error;
    listen = boundAddress(fd.get());
    fe->listeners().push_back(std::make_unique<Listener>(*fe, listen, std::move(fd)));
    proxy = std::make_unique<Proxy>(base.get(), 100000, 1024, ProxySeams{&upstream, &now});
    proxy->attach(*fe);
  }

  // Sends every datagram, then runs the loop until the listener is drained.
  void send(int fd, const Bytes& data, int times = 1) {
    for (int i = 0; i < times; ++i) {
      ASSERT_EQ(sendto(fd, data.data(), data.size(), 0, listen.get(), listen.length()),
                static_cast<ssize_t>(data.size()));
      if (i % 64 == 63) drain();
    }
    drain();
  }
  void drain() {
    pollfd p{fe->listeners()[0]->fd.get(), POLLIN, 0};
    while (poll(&p, 1, 5) == 1) event_base_loop(base.get(), EVLOOP_NONBLOCK);
  }
  std::uint64_t dropped(Drop d) const { return fe->stats.dropped[static_cast<std::size_t>(d)]; }
};

RateLimitConfig rates(std::uint64_t per_second, std::uint64_t burst) {
  RateLimitConfig r;
  r.per_minute = per_second * 60;
  r.burst = burst;
  r.prefix_per_minute = 1000 * 60;
  r.prefix_burst = 1000;
  return r;
}

TEST_F(ProxyLimits, FloodFromOneAddressIsCountedAsRateLimitedAndOthersStillPass) {
  start(rates(10, 20));
  UniqueFd flood = clientOn("127.0.0.2"), other = clientOn("127.0.0.3");
  send(flood.get(), ntpRequest(1), 500);
  send(other.get(), ntpRequest(2), 15);
  EXPECT_EQ(fe->stats.received, 515u);
  EXPECT_EQ(dropped(Drop::RateLimited), 480u);
  EXPECT_EQ(fe->stats.forwarded, 35u);
  EXPECT_EQ(fe->stats.kod_sent, 0u);  // kod off: dropped silently
  // The per-client record counts the drops too (udpx status --clients).
  const ClientRecord* r = fe->clients.find(boundAddress(flood.get()));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->dropped[static_cast<std::size_t>(Drop::RateLimited)], 480u);
  const auto top = fe->limiter.topLimited(5, false);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].source, "127.0.0.2");
  // A second later the flood gets its rate again.
  now += milliseconds(1000);
  send(flood.get(), ntpRequest(3), 50);
  EXPECT_EQ(fe->stats.forwarded, 45u);
}

TEST_F(ProxyLimits, KodAnswersARefusedRequestWithARateKissNoLargerThanIt) {
  RateLimitConfig r = rates(1, 1);
  r.kod = true;
  start(r);
  UniqueFd c = clientOn("127.0.0.2");
  send(c.get(), ntpRequest(0x1111), 1);  // passes
  // With a 20-byte MAC after the header: 68 bytes in, a 48-byte kiss out.
  send(c.get(), ntpRequest(0xabcdef0123456789ull, 68), 1);
  EXPECT_EQ(dropped(Drop::RateLimited), 1u);
  EXPECT_EQ(fe->stats.kod_sent, 1u);
  Bytes got(2048);
  const ssize_t n = recv(c.get(), got.data(), got.size(), MSG_DONTWAIT);
  ASSERT_EQ(n, 48);
  EXPECT_EQ(got[0] >> 6, 3);         // leap: unsynchronised
  EXPECT_EQ((got[0] >> 3) & 7, 4);   // the request's version
  EXPECT_EQ(got[0] & 7, 4);          // mode: server
  EXPECT_EQ(got[1], 0);              // stratum 0: a kiss-o'-death
  EXPECT_EQ(got[2], 6);              // the request's poll
  EXPECT_EQ(std::string(got.begin() + 12, got.begin() + 16), "RATE");
  const Bytes req = ntpRequest(0xabcdef0123456789ull);
  EXPECT_TRUE(std::equal(got.begin() + 24, got.begin() + 32, req.begin() + 40));  // origin = their transmit
  // Receive and transmit are set (chrony ignores a kiss with zero timestamps).
  EXPECT_NE(got[32], 0);
  EXPECT_NE(got[40], 0);
}

TEST_F(ProxyLimits, KissesArePacedByTheirOwnLimit) {
  RateLimitConfig r = rates(1, 1);
  r.kod = true;
  start(r);
  UniqueFd c = clientOn("127.0.0.2");
  send(c.get(), ntpRequest(1), 300);
  EXPECT_EQ(dropped(Drop::RateLimited), 299u);
  EXPECT_EQ(fe->stats.kod_sent, 20u);  // the kiss bucket's burst; none refill at a frozen clock
}

TEST_F(ProxyLimits, ZeroRatesLimitNothing) {
  start(RateLimitConfig{});
  EXPECT_FALSE(fe->limiter.enabled());
  UniqueFd c = clientOn("127.0.0.2");
  send(c.get(), ntpRequest(1), 300);
  EXPECT_EQ(fe->stats.received, 300u);
  EXPECT_EQ(dropped(Drop::RateLimited), 0u);
  // (The fake server's socketpair queue may overflow: those are send errors, not limits.)
  EXPECT_EQ(fe->stats.forwarded + dropped(Drop::SendError), 300u);
}

TEST_F(ProxyLimits, NewPortsOfOneHostEvictItsOwnSessionsAtMaxSessionsPerClient) {
  start(RateLimitConfig{}, 10);
  UniqueFd other = clientOn("127.0.0.3");
  send(other.get(), ntpRequest(7), 1);
  std::vector<UniqueFd> ports;
  for (int i = 0; i < 300; ++i) {
    ports.push_back(clientOn("127.0.0.2"));
    send(ports.back().get(), ntpRequest(static_cast<std::uint64_t>(i) + 100), 1);
  }
  EXPECT_EQ(fe->stats.sessions_created, 301u);
  EXPECT_EQ(fe->stats.sessions_evicted_per_client, 290u);
  EXPECT_EQ(fe->stats.sessions_evicted, 0u);
  EXPECT_EQ(proxy->sessions().laneSize(fe->lane()), 11u);
  // The other host's session is still there (its reply would still reach it).
  EXPECT_NE(const_cast<SessionTable&>(proxy->sessions()).find(fe->lane(), boundAddress(other.get())), nullptr);
}

}  // namespace
}  // namespace udpx

// Proxy: the data path driven in-process — real loopback listeners and clients, a fake upstream
// that hands out socketpairs, a manual clock — with packets and counters checked together.
#include "dataplane/proxy.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "dataplane/frontend.h"
#include "net/listen_socket.h"
#include "net/event_ptr.h"
#include <event2/event.h>
#include <event2/util.h>

// A link-time seam: the data path comes into this binary from a static library, so its calls
// bind to this sendmmsg rather than libc's. It counts the calls per socket and makes the
// system call itself.
namespace {
std::array<int, 4096> sendmmsg_calls{};
}  // namespace

extern "C" int sendmmsg(int fd, mmsghdr* msgs, unsigned int vlen, int flags) {
  if (fd >= 0 && static_cast<std::size_t>(fd) < sendmmsg_calls.size()) ++sendmmsg_calls[static_cast<std::size_t>(fd)];
  return static_cast<int>(syscall(SYS_sendmmsg, fd, msgs, vlen, flags));
}

// A namespace of its own: the fixture is named after the class it tests (suite Proxy) and so
// hides udpx::Proxy here, where the class under test is spelled udpx::Proxy.
namespace udpx::proxy_test {
namespace {

using std::chrono::milliseconds;
using Bytes = std::vector<std::uint8_t>;

// Hands the Proxy one end of a datagram socketpair per new session and keeps the other end as
// that session's server: what the Proxy forwards arrives there, what a test writes there is
// the server's reply. Fails like a process out of descriptors when told to.
class FakeUpstream : public UpstreamSockets {
 public:
  struct Opened {
    SockAddr server;  // the address the Proxy asked for
    UniqueFd peer;    // the server's end
    int proxy_end = -1;  // the Proxy's end (owned by it)
  };

  UniqueFd open(const SockAddr& server, int& error) noexcept override {
    if (fail_with != 0) {
      error = fail_with;
      return {};
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
      error = errno;
      return {};
    }
    opened.push_back({server, UniqueFd(sv[1]), sv[0]});
    // A server that is not listening: the Proxy's first send is refused.
    if (refuse) opened.back().peer.reset();
    return UniqueFd(sv[0]);
  }

  int fail_with = 0;
  bool refuse = false;
  std::vector<Opened> opened;  // in the order the sessions were opened
};

struct Client {
  UniqueFd fd;
  SockAddr addr;
};

SockAddr boundAddress(int fd) {
  sockaddr_in6 sa{};
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return SockAddr(reinterpret_cast<const sockaddr*>(&sa), len);
}

Client client(const std::string& ip = "127.0.0.1") {
  Client c{UniqueFd(socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)), {}};
  const SockAddr a = *SockAddr::parseIp(ip, 0);
  if (bind(c.fd.get(), a.get(), a.length()) != 0) ADD_FAILURE() << "cannot bind a client to " << ip;
  c.addr = boundAddress(c.fd.get());
  return c;
}

bool waitReadable(int fd) {
  pollfd p{fd, POLLIN, 0};
  // Loopback delivery is nearly always done when send returns; the wait is for a loaded machine.
  return poll(&p, 1, 2000) == 1;
}

Bytes payload(const std::string& s) { return Bytes(s.begin(), s.end()); }

// NTP (RFC 5905): a version 4 client request identified by its transmit timestamp, and the
// server's reply echoing it as the origin timestamp.
Bytes ntpPacket(std::uint8_t mode, std::size_t len = 48) {
  Bytes p(len, 0);
  p[0] = static_cast<std::uint8_t>((4 << 3) | mode);
  return p;
}
void putTimestamp(Bytes& p, std::size_t at, std::uint64_t t) {
  for (std::size_t i = 0; i < 8; ++i) p[at + i] = static_cast<std::uint8_t>(t >> (56 - 8 * i));
}
Bytes ntpRequest(std::uint64_t transmit) {
  Bytes p = ntpPacket(3);
  putTimestamp(p, 40, transmit);
  return p;
}
Bytes ntpReply(std::uint64_t origin, std::size_t len = 48) {
  Bytes p = ntpPacket(4, len);
  p[1] = 2;  // stratum
  putTimestamp(p, 24, origin);
  return p;
}

FrontendConfig frontendConfig(const std::string& name, Preset preset = Preset::Raw) {
  FrontendConfig c;
  c.name = name;
  c.preset = preset;
  c.backend = name;
  std::string error;
  c.allow = {*Cidr::parse("127.0.0.0/8", error)};
  c.session_timeout = milliseconds(1000);
  c.max_sessions = 100;
  c.responses = kUnlimitedResponses;
  c.max_datagram = 1024;
  return c;
}

FrontendConfig ntpConfig(const std::string& name) {
  FrontendConfig c = frontendConfig(name, Preset::Ntp);
  c.responses = 1;
  return c;
}

std::uint64_t dropped(const Frontend& fe, Drop d) { return fe.stats.dropped[static_cast<std::size_t>(d)]; }

// Every drop counter of `fe` is 0, but `reason`'s, which is `count`.
void expectOnlyDrop(const Frontend& fe, Drop reason, std::uint64_t count) {
  for (std::size_t i = 0; i < kDropCount; ++i) {
    const auto d = static_cast<Drop>(i);
    EXPECT_EQ(dropped(fe, d), d == reason ? count : 0) << "drop reason " << dropName(d);
  }
}

void expectNoDrops(const Frontend& fe) { expectOnlyDrop(fe, Drop::kCount, 0); }

class Proxy : public ::testing::Test {
 protected:
  // Declared in the order they are built; destroyed the other way: the Proxy first.
  TimePoint now = TimePoint{} + std::chrono::hours(1);
  const TimePoint t0 = now;
  EventBasePtr base{event_base_new()};
  FakeUpstream upstream;
  std::vector<std::unique_ptr<Backend>> backends;
  std::vector<std::unique_ptr<Frontend>> frontends;
  std::unique_ptr<udpx::Proxy> proxy;

  // The priorities Runtime gives the loop: the reply flush runs at the sockets' (1), after them.
  Proxy() { event_base_priority_init(base.get(), 3); }

  // A frontend listening on `listen` (port 0: any free one) with its own backend of one server
  // (none if `servers` is 0).
  Frontend& addFrontend(FrontendConfig cfg, std::vector<std::string> listen = {"127.0.0.1"}, int servers = 1) {
    BackendConfig bc;
    bc.name = cfg.backend;
    for (int i = 0; i < servers; ++i) {
      ServerConfig sc;
      // Never contacted (the fake stands in); loopback, so that a bug that did stays on the host.
      sc.literal = *SockAddr::parse("127.0.0." + std::to_string(i + 1) + ":9");
      sc.text = sc.literal->toString();
      bc.servers.push_back(sc);
    }
    backends.push_back(std::make_unique<Backend>(bc, nullptr, nullptr));
    frontends.push_back(std::make_unique<Frontend>(cfg, backends.back().get()));
    Frontend& fe = *frontends.back();
    for (const std::string& ip : listen) {
      std::string error;
      UniqueFd fd = openListenSocket(*SockAddr::parseIp(ip, 0), error);
      if (!fd.valid()) ADD_FAILURE() << "cannot listen on " << ip << ": " << error;
      const SockAddr bound = boundAddress(fd.get());
      fe.listeners().push_back(std::make_unique<Listener>(fe, bound, std::move(fd)));
    }
    return fe;
  }

  void start(std::uint32_t global_max_sessions = 1000) {
    std::uint32_t max_datagram = 1;
    for (auto& fe : frontends) max_datagram = std::max(max_datagram, fe->config().max_datagram);
    proxy = std::make_unique<udpx::Proxy>(base.get(), global_max_sessions, max_datagram, ProxySeams{&upstream, &now});
    for (auto& fe : frontends) proxy->attach(*fe);
  }

  // One loop iteration that waits for nothing: what is readable now is handled, and the reply
  // flush queued behind it runs too.
  void runLoop() { event_base_loop(base.get(), EVLOOP_NONBLOCK); }

  void sendFromClient(const Client& c, const SockAddr& to, const Bytes& data) {
    ASSERT_EQ(sendto(c.fd.get(), data.data(), data.size(), 0, to.get(), to.length()),
              static_cast<ssize_t>(data.size()));
    waitReadable(listenerFor(to));
    runLoop();
  }
  void sendFromClient(const Client& c, const Listener& l, const Bytes& data) { sendFromClient(c, l.addr, data); }

  // The server of the `session`-th session opened (0 first) receives `data`.
  void expectServerReceives(std::size_t session, const Bytes& data) {
    ASSERT_LT(session, upstream.opened.size()) << "no such session was opened";
    Bytes got(2048);
    const ssize_t n = recv(upstream.opened[session].peer.get(), got.data(), got.size(), MSG_DONTWAIT);
    ASSERT_GE(n, 0) << "the server got nothing";
    got.resize(static_cast<std::size_t>(n));
    EXPECT_EQ(got, data);
  }

  // The server of the `session`-th session sends `data` back, and the loop handles it.
  void replyFromServer(std::size_t session, const Bytes& data) {
    queueReplyFromServer(session, data);
    runLoop();
  }
  // The same, left queued: the replies of several calls are read in the next runLoop().
  void queueReplyFromServer(std::size_t session, const Bytes& data) {
    ASSERT_LT(session, upstream.opened.size()) << "no such session was opened";
    ASSERT_EQ(send(upstream.opened[session].peer.get(), data.data(), data.size(), 0),
              static_cast<ssize_t>(data.size()));
  }

  // The socket of the `session`-th session was closed by the Proxy.
  bool upstreamClosed(std::size_t session) {
    const std::uint8_t probe = 0;
    return send(upstream.opened.at(session).peer.get(), &probe, 1, 0) < 0 && errno == ECONNREFUSED;
  }

  // `c` receives `data`, sent from `from`.
  static void expectReplyAt(const Client& c, const SockAddr& from, const Bytes& data) {
    ASSERT_TRUE(waitReadable(c.fd.get())) << "no reply reached " << c.addr.toString();
    Bytes got(2048);
    sockaddr_in6 src{};
    socklen_t len = sizeof src;
    const ssize_t n = recvfrom(c.fd.get(), got.data(), got.size(), 0, reinterpret_cast<sockaddr*>(&src), &len);
    ASSERT_GE(n, 0);
    got.resize(static_cast<std::size_t>(n));
    EXPECT_EQ(got, data);
    EXPECT_EQ(SockAddr(reinterpret_cast<const sockaddr*>(&src), len).toString(), from.toString());
  }
  static void expectReplyAt(const Client& c, const Listener& from, const Bytes& data) {
    expectReplyAt(c, from.addr, data);
  }

  static void expectNoReply(const Client& c) {
    std::uint8_t b[2048];
    EXPECT_LT(recv(c.fd.get(), b, sizeof b, MSG_DONTWAIT), 0) << c.addr.toString() << " got a datagram";
  }

  // Advances the manual clock to `t0 + ms` and lets the expiry run as its timer would then.
  void expireAt(milliseconds ms) {
    now = t0 + ms;
    proxy->expireIdle();
  }

 private:
  // The listening socket a client sends to at `to` (by port: the wildcard one takes any address).
  int listenerFor(const SockAddr& to) const {
    for (auto& fe : frontends) {
      for (auto& l : fe->listeners()) {
        if (l->addr.port() == to.port()) return l->fd.get();
      }
    }
    return -1;
  }
};

Listener& listener(Frontend& fe, std::size_t i = 0) { return *fe.listeners()[i]; }

// ---- sessions and where replies go ----

TEST_F(Proxy, NewClientGetsASessionAndItsReplyFromTheListenerItSentTo) {
  Frontend& fe = addFrontend(frontendConfig("raw"), {"127.0.0.1", "127.0.0.2"});
  start();
  Client a = client(), b = client();
  sendFromClient(a, listener(fe, 0), payload("from a"));
  sendFromClient(b, listener(fe, 1), payload("from b"));

  ASSERT_EQ(upstream.opened.size(), 2u);
  EXPECT_EQ(upstream.opened[0].server.toString(), "127.0.0.1:9");
  expectServerReceives(0, payload("from a"));
  expectServerReceives(1, payload("from b"));
  // Both answer before the loop runs, b's server first: each reply still finds its client.
  queueReplyFromServer(1, payload("to b"));
  queueReplyFromServer(0, payload("to a"));
  runLoop();
  expectReplyAt(a, listener(fe, 0), payload("to a"));
  expectReplyAt(b, listener(fe, 1), payload("to b"));

  EXPECT_EQ(proxy->sessions().laneSize(fe.lane()), 2u);
  EXPECT_EQ(fe.stats.sessions_created, 2u);
  EXPECT_EQ(fe.stats.received, 2u);
  EXPECT_EQ(fe.stats.received_bytes, 12u);
  EXPECT_EQ(fe.stats.forwarded, 2u);
  EXPECT_EQ(fe.stats.replied, 2u);
  EXPECT_EQ(fe.stats.replied_bytes, 8u);
  const Server& server = fe.backend()->servers()[0];
  EXPECT_EQ(server.stats.sessions, 2u);
  EXPECT_EQ(server.stats.forwarded, 2u);
  EXPECT_EQ(server.stats.replied, 2u);
  EXPECT_EQ(server.active_sessions, 2u);
  expectNoDrops(fe);
}

TEST_F(Proxy, ClientKeepsItsSessionAndItsRepliesFollowItToAnotherListener) {
  Frontend& fe = addFrontend(frontendConfig("raw"), {"127.0.0.1", "127.0.0.2"});
  start();
  Client a = client();
  sendFromClient(a, listener(fe, 0), payload("one"));
  sendFromClient(a, listener(fe, 1), payload("two"));
  ASSERT_EQ(upstream.opened.size(), 1u);
  expectServerReceives(0, payload("one"));
  expectServerReceives(0, payload("two"));
  replyFromServer(0, payload("answer"));
  expectReplyAt(a, listener(fe, 1), payload("answer"));
  EXPECT_EQ(fe.stats.sessions_created, 1u);
  EXPECT_EQ(fe.stats.forwarded, 2u);
}

TEST_F(Proxy, ReplyLeavesFromTheAddressTheClientUsedOnAWildcardListener) {
  Frontend& fe = addFrontend(frontendConfig("raw"), {"0.0.0.0"});
  start();
  // Every 127/8 address is local: the client talks to the wildcard socket through 127.0.0.3.
  SockAddr used = *SockAddr::parseIp("127.0.0.3", listener(fe).addr.port());
  Client a = client();
  sendFromClient(a, used, payload("hello"));
  replyFromServer(0, payload("hi"));
  expectReplyAt(a, used, payload("hi"));
  EXPECT_EQ(fe.stats.replied, 1u);
}

TEST_F(Proxy, ReplyBudgetEndsTheSession) {
  Frontend& fe = addFrontend(ntpConfig("ntp"));
  start();
  Client a = client();
  sendFromClient(a, listener(fe), ntpRequest(0x1111));
  expectServerReceives(0, ntpRequest(0x1111));
  replyFromServer(0, ntpReply(0x1111));
  expectReplyAt(a, listener(fe), ntpReply(0x1111));

  EXPECT_EQ(proxy->sessions().size(), 0u);
  EXPECT_EQ(fe.stats.sessions_closed, 1u);
  EXPECT_EQ(fe.stats.sessions_expired, 0u);
  EXPECT_EQ(fe.backend()->servers()[0].active_sessions, 0u);
  EXPECT_TRUE(upstreamClosed(0));
  expectNoDrops(fe);
  // The next request opens a new session.
  sendFromClient(a, listener(fe), ntpRequest(0x2222));
  EXPECT_EQ(fe.stats.sessions_created, 2u);
  EXPECT_EQ(proxy->sessions().size(), 1u);
}

// ---- idle expiry on the manual clock ----

TEST_F(Proxy, IdleSessionExpiresAtItsTimeoutToTheMillisecond) {
  Frontend& fe = addFrontend(frontendConfig("raw"));  // session_timeout 1000 ms
  start();
  Client a = client();
  sendFromClient(a, listener(fe), payload("q"));
  EXPECT_EQ(proxy->expiryDue(), t0 + milliseconds(1000));

  expireAt(milliseconds(999));
  EXPECT_EQ(proxy->sessions().size(), 1u);
  EXPECT_EQ(fe.stats.sessions_expired, 0u);
  EXPECT_FALSE(upstreamClosed(0));
  EXPECT_EQ(proxy->expiryDue(), t0 + milliseconds(1000));

  expireAt(milliseconds(1000));
  EXPECT_EQ(proxy->sessions().size(), 0u);
  EXPECT_EQ(fe.stats.sessions_expired, 1u);
  EXPECT_EQ(fe.stats.sessions_closed, 0u);
  EXPECT_TRUE(upstreamClosed(0));
  EXPECT_EQ(proxy->expiryDue(), std::nullopt);
  expectNoDrops(fe);
}

// The wall-clock time, in microseconds, at which libevent will fire the expiry timer.
std::int64_t timerDueUs(const udpx::Proxy& p) {
  timeval at{};
  if (event_pending(p.expiryTimer(), EV_TIMEOUT, &at) == 0) return -1;
  return std::int64_t{at.tv_sec} * 1000000 + at.tv_usec;
}

std::int64_t wallNowUs() {
  timeval tv{};
  evutil_gettimeofday(&tv, nullptr);
  return std::int64_t{tv.tv_sec} * 1000000 + tv.tv_usec;
}

// The manual clock decides the deadlines, but a real libevent timer fires them: it must be armed
// for exactly the time left (deadline - now), not a multiple or a rounding of it. Read from the
// armed event and bracketed by the wall clock read before and after arming, so a slow machine
// only widens the bracket. event_pending() converts the monotonic deadline to wall time with the
// clock difference libevent sampled at its last time update, and may use its coarse monotonic
// clock (a jiffy, up to 4 ms): 5 ms of slack, still far below any multiple or rounding of the
// time left (the smallest case below is 10 ms left: not 0, not rounded up to 20).
TEST_F(Proxy, TheRealExpiryTimerIsArmedForExactlyTheTimeLeft) {
  Frontend& fe = addFrontend(frontendConfig("raw"));  // session_timeout 1000 ms
  start();
  constexpr std::int64_t kSlackUs = 5000;
  Client a = client(), b = client();
  std::int64_t before = wallNowUs();
  sendFromClient(a, listener(fe), payload("a"));
  std::int64_t after = wallNowUs();
  std::int64_t due = timerDueUs(*proxy);
  EXPECT_GE(due, before + 1'000'000 - kSlackUs);
  EXPECT_LE(due, after + 1'000'000 + kSlackUs);

  now = t0 + milliseconds(400);
  sendFromClient(b, listener(fe), payload("b"));  // due at 1400: the timer stays at 1000
  EXPECT_EQ(proxy->expiryDue(), t0 + milliseconds(1000));

  before = wallNowUs();
  expireAt(milliseconds(1000));  // a expires; b's deadline is 400 ms away on the manual clock
  after = wallNowUs();
  EXPECT_EQ(fe.stats.sessions_expired, 1u);
  EXPECT_EQ(proxy->expiryDue(), t0 + milliseconds(1400));
  due = timerDueUs(*proxy);
  EXPECT_GE(due, before + 400'000 - kSlackUs);
  EXPECT_LE(due, after + 400'000 + kSlackUs);

  before = wallNowUs();
  expireAt(milliseconds(1390));  // too early by 10 ms: 10 ms left (not 0, not a rounding up)
  after = wallNowUs();
  EXPECT_EQ(fe.stats.sessions_expired, 1u);
  due = timerDueUs(*proxy);
  EXPECT_GE(due, before + 10'000 - kSlackUs);
  EXPECT_LE(due, after + 10'000 + kSlackUs);

  expireAt(milliseconds(1400));
  EXPECT_EQ(fe.stats.sessions_expired, 2u);
  EXPECT_EQ(timerDueUs(*proxy), -1);  // nothing left to expire: not armed
}

TEST_F(Proxy, RequestsAndRepliesKeepASessionAlive) {
  Frontend& fe = addFrontend(frontendConfig("raw"));
  start();
  Client a = client();
  sendFromClient(a, listener(fe), payload("q"));
  now = t0 + milliseconds(400);
  sendFromClient(a, listener(fe), payload("q again"));
  now = t0 + milliseconds(700);
  replyFromServer(0, payload("r"));

  expireAt(milliseconds(1000));  // the timer armed for the first deadline finds it active
  EXPECT_EQ(proxy->sessions().size(), 1u);
  EXPECT_EQ(proxy->expiryDue(), t0 + milliseconds(1700));
  expireAt(milliseconds(1699));
  EXPECT_EQ(proxy->sessions().size(), 1u);
  expireAt(milliseconds(1700));
  EXPECT_EQ(proxy->sessions().size(), 0u);
  EXPECT_EQ(fe.stats.sessions_expired, 1u);
  EXPECT_EQ(fe.stats.sessions_created, 1u);
}

// ---- eviction under the caps ----

TEST_F(Proxy, EvictsTheLeastRecentlyUsedSessionAtTheFrontendsCap) {
  FrontendConfig cfg = frontendConfig("raw");
  cfg.max_sessions = 2;
  Frontend& fe = addFrontend(cfg);
  start();
  Client c1 = client(), c2 = client(), c3 = client();
  sendFromClient(c1, listener(fe), payload("1"));
  now += milliseconds(1);
  sendFromClient(c2, listener(fe), payload("2"));
  now += milliseconds(1);
  sendFromClient(c1, listener(fe), payload("1 again"));  // c2 is now the least recently used
  now += milliseconds(1);
  sendFromClient(c3, listener(fe), payload("3"));

  EXPECT_EQ(fe.stats.sessions_evicted, 1u);
  EXPECT_EQ(fe.last_eviction, now);
  EXPECT_EQ(proxy->sessions().laneSize(fe.lane()), 2u);
  EXPECT_FALSE(upstreamClosed(0));
  EXPECT_TRUE(upstreamClosed(1));
  // c1 still has its session; c2 needs a new one.
  sendFromClient(c1, listener(fe), payload("1 still"));
  EXPECT_EQ(fe.stats.sessions_created, 3u);
  expectServerReceives(0, payload("1"));
  expectServerReceives(0, payload("1 again"));
  expectServerReceives(0, payload("1 still"));
  expectNoDrops(fe);
}

TEST_F(Proxy, EvictsTheLeastRecentlyUsedSessionOfAnyFrontendAtTheGlobalCap) {
  Frontend& a = addFrontend(frontendConfig("a"));
  Frontend& b = addFrontend(frontendConfig("b"));
  start(3);
  Client c1 = client(), c2 = client(), c3 = client(), c4 = client();
  sendFromClient(c2, listener(b), payload("b2"));  // session 0
  now += milliseconds(1);
  sendFromClient(c1, listener(a), payload("a1"));  // session 1
  now += milliseconds(1);
  sendFromClient(c3, listener(a), payload("a3"));  // session 2
  now += milliseconds(1);
  sendFromClient(c2, listener(b), payload("b2 again"));  // a1 is now the least recently used
  now += milliseconds(1);
  sendFromClient(c4, listener(b), payload("b4"));  // the table is full: a1 goes

  EXPECT_EQ(proxy->sessions().size(), 3u);
  EXPECT_EQ(a.stats.sessions_evicted, 1u);
  EXPECT_EQ(b.stats.sessions_evicted, 0u);
  EXPECT_EQ(proxy->sessions().laneSize(a.lane()), 1u);
  EXPECT_EQ(proxy->sessions().laneSize(b.lane()), 2u);
  EXPECT_TRUE(upstreamClosed(1));
  EXPECT_FALSE(upstreamClosed(0));
  EXPECT_FALSE(upstreamClosed(2));
}

// A reload raising global.max_sessions reaches the in-flight table of the shared upstream path
// (sized from max_sessions at start): it grows, and never shrinks on a lower cap.
TEST_F(Proxy, ARaisedGlobalCapGrowsTheInflightTable) {
  addFrontend(frontendConfig("a"));
  start(3);
  EXPECT_EQ(proxy->inflight().capacity(), 3u);
  proxy->setGlobalCap(50);
  EXPECT_EQ(proxy->inflight().capacity(), 50u);
  proxy->setGlobalCap(10);
  EXPECT_EQ(proxy->inflight().capacity(), 50u);
}

// ---- drops: each reason bumps its own counter and no other ----

TEST_F(Proxy, DropsRequestsFromClientsOutsideTheAllowList) {
  FrontendConfig cfg = frontendConfig("raw");
  std::string error;
  cfg.allow = {*Cidr::parse("10.0.0.0/8", error)};
  Frontend& fe = addFrontend(cfg);
  start();
  Client a = client();
  sendFromClient(a, listener(fe), payload("let me in"));
  expectOnlyDrop(fe, Drop::Acl, 1);
  EXPECT_EQ(fe.stats.received, 1u);
  EXPECT_EQ(fe.stats.forwarded, 0u);
  EXPECT_TRUE(upstream.opened.empty());
}

TEST_F(Proxy, DropsRequestsTheProtocolRefuses) {
  Frontend& fe = addFrontend(ntpConfig("ntp"));
  start();
  Client a = client();
  sendFromClient(a, listener(fe), ntpPacket(3, 10));  // too short for NTP
  expectOnlyDrop(fe, Drop::Malformed, 1);
  sendFromClient(a, listener(fe), ntpReply(1));  // a server reply sent as a request
  EXPECT_EQ(dropped(fe, Drop::WrongKind), 1u);
  sendFromClient(a, listener(fe), ntpPacket(6, 12));  // ntpq
  EXPECT_EQ(dropped(fe, Drop::Control), 1u);
  EXPECT_EQ(dropped(fe, Drop::Malformed), 1u);

  EXPECT_EQ(fe.stats.received, 3u);
  EXPECT_EQ(fe.stats.forwarded, 0u);
  EXPECT_TRUE(upstream.opened.empty());
  EXPECT_EQ(fe.stats.sessions_created, 0u);
}

TEST_F(Proxy, DropsRequestsLargerThanMaxDatagram) {
  FrontendConfig cfg = frontendConfig("raw");
  cfg.max_datagram = 100;
  FrontendConfig big = frontendConfig("big");  // sizes the Proxy's buffers larger
  Frontend& fe = addFrontend(cfg);
  addFrontend(big);
  start();
  Client a = client();
  sendFromClient(a, listener(fe), Bytes(100, 'x'));
  sendFromClient(a, listener(fe), Bytes(101, 'x'));
  expectOnlyDrop(fe, Drop::TooLarge, 1);
  EXPECT_EQ(fe.stats.forwarded, 1u);
  expectServerReceives(0, Bytes(100, 'x'));
}

TEST_F(Proxy, DropsRequestsWhenTheBackendHasNoServer) {
  Frontend& fe = addFrontend(frontendConfig("raw"), {"127.0.0.1"}, 0);
  start();
  Client a = client();
  sendFromClient(a, listener(fe), payload("anyone?"));
  expectOnlyDrop(fe, Drop::NoBackend, 1);
  EXPECT_TRUE(upstream.opened.empty());
  EXPECT_EQ(proxy->sessions().size(), 0u);
}

TEST_F(Proxy, DropsRequestsWhenNoUpstreamSocketCanBeOpened) {
  Frontend& fe = addFrontend(frontendConfig("raw"));
  start();
  Client a = client();
  upstream.fail_with = EMFILE;
  sendFromClient(a, listener(fe), payload("q"));
  expectOnlyDrop(fe, Drop::SocketError, 1);
  EXPECT_EQ(proxy->sessions().size(), 0u);
  EXPECT_EQ(fe.stats.sessions_created, 0u);
  EXPECT_EQ(fe.backend()->servers()[0].active_sessions, 0u);

  upstream.fail_with = 0;  // descriptors are free again
  sendFromClient(a, listener(fe), payload("q"));
  EXPECT_EQ(fe.stats.sessions_created, 1u);
  expectServerReceives(0, payload("q"));
  EXPECT_EQ(dropped(fe, Drop::SocketError), 1u);
}

TEST_F(Proxy, RefusedSendIsASendErrorAndClosesTheSession) {
  Frontend& fe = addFrontend(frontendConfig("raw"));
  start();
  Client a = client();
  upstream.refuse = true;
  sendFromClient(a, listener(fe), payload("q"));
  expectOnlyDrop(fe, Drop::SendError, 1);
  EXPECT_EQ(fe.stats.forwarded, 0u);
  EXPECT_EQ(fe.stats.sessions_created, 1u);
  EXPECT_EQ(fe.stats.sessions_closed, 1u);
  EXPECT_EQ(proxy->sessions().size(), 0u);
  // ICMP port unreachable's equivalent: the server is taken out at once.
  const Server& server = fe.backend()->servers()[0];
  EXPECT_EQ(server.stats.refused, 1u);
  EXPECT_FALSE(server.eligible());
}

TEST_F(Proxy, DropsRepliesThatAreNotValidReplies) {
  Frontend& fe = addFrontend(ntpConfig("ntp"));
  start();
  Client a = client();
  sendFromClient(a, listener(fe), ntpRequest(7));
  replyFromServer(0, ntpPacket(4, 20));  // too short
  expectOnlyDrop(fe, Drop::ReplyMalformed, 1);
  replyFromServer(0, ntpRequest(7));  // a request, not a reply
  EXPECT_EQ(dropped(fe, Drop::ReplyWrongKind), 1u);
  replyFromServer(0, ntpReply(8));  // answers a request nobody sent
  EXPECT_EQ(dropped(fe, Drop::ReplyUnmatched), 1u);
  EXPECT_EQ(dropped(fe, Drop::ReplyMalformed), 1u);
  expectNoReply(a);
  EXPECT_EQ(fe.stats.replied, 0u);
  EXPECT_EQ(fe.backend()->servers()[0].stats.replied, 0u);

  // None of them used the budget: the real reply still gets through and ends the session.
  replyFromServer(0, ntpReply(7));
  expectReplyAt(a, listener(fe), ntpReply(7));
  EXPECT_EQ(fe.stats.sessions_closed, 1u);
  for (std::size_t i = 0; i < kDropCount; ++i) {
    const auto d = static_cast<Drop>(i);
    const bool expected = d == Drop::ReplyMalformed || d == Drop::ReplyWrongKind || d == Drop::ReplyUnmatched;
    EXPECT_EQ(dropped(fe, d), expected ? 1u : 0u) << dropName(d);
  }
}

TEST_F(Proxy, DropsNtpRepliesLongerThanTheirRequest) {
  Frontend& fe = addFrontend(ntpConfig("ntp"));
  start();
  Client a = client();
  sendFromClient(a, listener(fe), ntpRequest(7));
  replyFromServer(0, ntpReply(7, 52));  // the amplification guard
  expectOnlyDrop(fe, Drop::ReplyTooLarge, 1);
  expectNoReply(a);
  EXPECT_EQ(fe.stats.replied, 0u);
  EXPECT_EQ(proxy->sessions().size(), 1u);
}

TEST_F(Proxy, DropsRepliesLargerThanMaxDatagram) {
  FrontendConfig cfg = frontendConfig("raw");
  cfg.max_datagram = 100;
  Frontend& fe = addFrontend(cfg);
  addFrontend(frontendConfig("big"));
  start();
  Client a = client();
  sendFromClient(a, listener(fe), payload("q"));
  replyFromServer(0, Bytes(101, 'r'));
  expectOnlyDrop(fe, Drop::ReplyTooLarge, 1);
  expectNoReply(a);
  replyFromServer(0, Bytes(100, 'r'));
  expectReplyAt(a, listener(fe), Bytes(100, 'r'));
  EXPECT_EQ(dropped(fe, Drop::ReplyTooLarge), 1u);
}

TEST_F(Proxy, DropsRepliesToAOneWayFrontend) {
  FrontendConfig cfg = frontendConfig("syslog");
  cfg.responses = 0;
  Frontend& fe = addFrontend(cfg);
  start();
  Client a = client();
  sendFromClient(a, listener(fe), payload("<13>hello"));
  expectServerReceives(0, payload("<13>hello"));
  replyFromServer(0, payload("unasked"));
  expectOnlyDrop(fe, Drop::ReplyUnexpected, 1);
  expectNoReply(a);
  EXPECT_EQ(fe.stats.forwarded, 1u);
  EXPECT_EQ(fe.stats.replied, 0u);
  EXPECT_EQ(proxy->sessions().size(), 1u);
}

TEST_F(Proxy, CountsRepliesTheListenerCannotSend) {
  Frontend& fe = addFrontend(frontendConfig("raw"));
  start();
  Client a = client();
  sendFromClient(a, listener(fe), payload("q"));
  // Sends on the listener now fail (EPIPE); it still receives.
  shutdown(listener(fe).fd.get(), SHUT_WR);
  replyFromServer(0, payload("r1"));
  replyFromServer(0, payload("r2"));
  expectOnlyDrop(fe, Drop::ReplySendError, 2);
  EXPECT_EQ(fe.stats.replied, 0u);
  EXPECT_EQ(fe.backend()->servers()[0].stats.replied, 2u);
  expectNoReply(a);
}

// ---- batching ----

TEST_F(Proxy, BurstOfRepliesFromManySessionsLeavesInOneSendmmsg) {
  Frontend& fe = addFrontend(frontendConfig("raw"));
  start();
  constexpr std::size_t kClients = 8;
  std::vector<Client> clients;
  for (std::size_t i = 0; i < kClients; ++i) {
    clients.push_back(client());
    sendFromClient(clients.back(), listener(fe), payload("q" + std::to_string(i)));
  }
  ASSERT_EQ(upstream.opened.size(), kClients);
  // Every server answers before the loop runs: one wake-up reads them all.
  for (std::size_t i = 0; i < kClients; ++i) queueReplyFromServer(i, payload("reply " + std::to_string(i)));
  const int fd = listener(fe).fd.get();
  const int before = sendmmsg_calls[static_cast<std::size_t>(fd)];
  runLoop();
  EXPECT_EQ(sendmmsg_calls[static_cast<std::size_t>(fd)] - before, 1);
  for (std::size_t i = 0; i < kClients; ++i) {
    expectReplyAt(clients[i], listener(fe), payload("reply " + std::to_string(i)));
  }
  EXPECT_EQ(fe.stats.replied, kClients);
}

// Shared upstream sockets: the requests of one receive batch all take one pool socket, so they
// leave in a single sendmmsg (and their replies come back on one socket); the next batch takes
// another socket of the pool.
TEST_F(Proxy, OneReceiveBatchOfSharedRequestsLeavesThroughOnePoolSocketInOneSendmmsg) {
  FrontendConfig cfg = ntpConfig("ntp");
  cfg.upstream_sockets = UpstreamSocketsMode::Shared;
  Frontend& fe = addFrontend(cfg);
  start();
  constexpr std::size_t kClients = 8;
  std::vector<Client> clients;
  for (std::size_t i = 0; i < kClients; ++i) clients.push_back(client());
  auto batch = [&](std::uint64_t first) {
    for (std::size_t i = 0; i < kClients; ++i) {
      const Bytes req = ntpRequest(first + i);
      ASSERT_EQ(sendto(clients[i].fd.get(), req.data(), req.size(), 0, listener(fe).addr.get(), listener(fe).addr.length()),
                static_cast<ssize_t>(req.size()));
    }
    waitReadable(listener(fe).fd.get());
    int before = 0;
    for (int c : sendmmsg_calls) before += c;
    runLoop();
    int after = 0;
    for (int c : sendmmsg_calls) after += c;
    EXPECT_EQ(after - before, 1) << "sendmmsg calls for one batch of " << kClients << " requests";
  };
  batch(1000);
  ASSERT_EQ(upstream.opened.size(), 1u);
  batch(2000);
  ASSERT_EQ(upstream.opened.size(), 2u);
  // Each batch went whole to its own socket.
  for (std::size_t sock = 0; sock < 2; ++sock) {
    std::size_t got = 0;
    std::uint8_t buf[2048];
    while (recv(upstream.opened[sock].peer.get(), buf, sizeof buf, MSG_DONTWAIT) > 0) ++got;
    EXPECT_EQ(got, kClients) << "requests through pool socket " << sock;
  }
  EXPECT_EQ(fe.stats.forwarded, 2 * kClients);
  expectNoDrops(fe);
}

// A pool socket gathers the replies of many clients: it asks for a deep receive queue, which
// the kernel grants up to net.core.rmem_max (doubled) — more than a fresh socket's default.
TEST_F(Proxy, APoolSocketAsksForADeepReceiveQueue) {
  FrontendConfig cfg = ntpConfig("ntp");
  cfg.upstream_sockets = UpstreamSocketsMode::Shared;
  Frontend& fe = addFrontend(cfg);
  start();
  Client c = client();
  const Bytes req = ntpRequest(1);
  ASSERT_EQ(sendto(c.fd.get(), req.data(), req.size(), 0, listener(fe).addr.get(), listener(fe).addr.length()),
            static_cast<ssize_t>(req.size()));
  waitReadable(listener(fe).fd.get());
  runLoop();
  ASSERT_EQ(upstream.opened.size(), 1u);
  int fresh[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fresh), 0);
  UniqueFd a(fresh[0]), b(fresh[1]);
  int pool = 0, plain = 0;
  socklen_t len = sizeof pool;
  ASSERT_EQ(getsockopt(upstream.opened[0].proxy_end, SOL_SOCKET, SO_RCVBUF, &pool, &len), 0);
  len = sizeof plain;
  ASSERT_EQ(getsockopt(a.get(), SOL_SOCKET, SO_RCVBUF, &plain, &len), 0);
  EXPECT_GT(pool, plain) << "a pool socket kept the default receive queue";
}

// ---- shared upstream sockets: the pool's size (upstream_pool_sockets) ----

FrontendConfig sharedNtpConfig(const std::string& name, std::uint32_t pool_sockets) {
  FrontendConfig c = ntpConfig(name);
  c.upstream_sockets = UpstreamSocketsMode::Shared;
  c.upstream_pool_sockets = pool_sockets;
  return c;
}

std::uint64_t timestampAt(const Bytes& p, std::size_t at) {
  std::uint64_t t = 0;
  for (std::size_t i = 0; i < 8; ++i) t = (t << 8) | p.at(at + i);
  return t;
}

// Each request its own receive batch, so each may take the pool's next socket: the pool opens
// up to upstream_pool_sockets and then takes turns.
TEST_F(Proxy, SharedPoolOpensNoMoreSocketsThanUpstreamPoolSockets) {
  Frontend& two = addFrontend(sharedNtpConfig("two", 2));
  Frontend& four = addFrontend(sharedNtpConfig("four", 4));
  start();
  Client a = client();
  for (std::uint64_t t = 1; t <= 6; ++t) sendFromClient(a, listener(two), ntpRequest(t));
  ASSERT_EQ(upstream.opened.size(), 2u) << "upstream_pool_sockets = 2";
  EXPECT_EQ(two.backend()->servers()[0].pool_sockets, 2u);
  // The six requests took turns on the two sockets.
  for (std::size_t sock = 0; sock < 2; ++sock) {
    std::size_t got = 0;
    std::uint8_t buf[2048];
    while (recv(upstream.opened[sock].peer.get(), buf, sizeof buf, MSG_DONTWAIT) > 0) ++got;
    EXPECT_EQ(got, 3u) << "requests through pool socket " << sock;
  }
  for (std::uint64_t t = 11; t <= 16; ++t) sendFromClient(a, listener(four), ntpRequest(t));
  EXPECT_EQ(upstream.opened.size(), 2u + 4u) << "upstream_pool_sockets = 4";
  EXPECT_EQ(four.backend()->servers()[0].pool_sockets, 4u);
  EXPECT_EQ(two.stats.forwarded, 6u);
  EXPECT_EQ(four.stats.forwarded, 6u);
  expectNoDrops(two);
  expectNoDrops(four);
}

// A reload that lowers upstream_pool_sockets: the pool keeps its first sockets, an idle extra
// one closes at once, one with a request in flight when that request is answered; a reload
// that raises it opens more again.
TEST_F(Proxy, ReloadThatShrinksThePoolRetiresItsExtraSockets) {
  FrontendConfig cfg = sharedNtpConfig("ntp", 3);
  Frontend& fe = addFrontend(cfg);
  start();
  Client a = client(), b = client(), c = client();
  sendFromClient(a, listener(fe), ntpRequest(1));
  sendFromClient(b, listener(fe), ntpRequest(2));
  sendFromClient(c, listener(fe), ntpRequest(3));
  ASSERT_EQ(upstream.opened.size(), 3u);
  // The server answers what pool socket `sock` carried (origin = the cookie it was sent).
  auto answer = [&](std::size_t sock) {
    Bytes req(2048);
    const ssize_t n = recv(upstream.opened[sock].peer.get(), req.data(), req.size(), MSG_DONTWAIT);
    ASSERT_EQ(n, 48);
    replyFromServer(sock, ntpReply(timestampAt(req, 40)));
  };
  // The first two are answered; c's request stays in flight on the third socket.
  answer(0);
  answer(1);
  expectReplyAt(a, listener(fe), ntpReply(1));
  expectReplyAt(b, listener(fe), ntpReply(2));

  cfg.upstream_pool_sockets = 1;
  fe.reconfigure(cfg, fe.backend());
  proxy->reconfigured(fe);
  // (Only sockets expected closed are probed: an open one would take the probe as a reply.)
  EXPECT_TRUE(upstreamClosed(1)) << "an idle extra socket closes at once";
  EXPECT_EQ(proxy->sharedUpstream().openSockets(), 2u) << "the first, and the third with a request in flight";
  answer(2);
  expectReplyAt(c, listener(fe), ntpReply(3));
  EXPECT_TRUE(upstreamClosed(2)) << "retired once its last request was answered";
  EXPECT_EQ(proxy->sharedUpstream().openSockets(), 1u);
  EXPECT_EQ(fe.backend()->servers()[0].pool_sockets, 1u);

  // From now on every batch takes the one socket left, the first.
  for (std::uint64_t t = 10; t < 14; ++t) sendFromClient(a, listener(fe), ntpRequest(t));
  EXPECT_EQ(upstream.opened.size(), 3u);
  std::size_t got = 0;
  std::uint8_t buf[2048];
  while (recv(upstream.opened[0].peer.get(), buf, sizeof buf, MSG_DONTWAIT) > 0) ++got;
  EXPECT_EQ(got, 4u);
  cfg.upstream_pool_sockets = 2;
  fe.reconfigure(cfg, fe.backend());
  proxy->reconfigured(fe);
  for (std::uint64_t t = 20; t < 24; ++t) sendFromClient(a, listener(fe), ntpRequest(t));
  EXPECT_EQ(upstream.opened.size(), 4u);
  EXPECT_EQ(fe.stats.forwarded, 11u);
  EXPECT_EQ(fe.stats.replied, 3u);
  expectNoDrops(fe);
}

// ---- shared upstream sockets: long NTP requests (a MAC, NTS) and interleaved replies ----

// A request with a key id and a 20-byte digest after the header: it passes byte for byte.
Bytes longNtpRequest(std::uint64_t transmit, std::uint64_t receive) {
  Bytes p = ntpPacket(3, 48 + 24);
  putTimestamp(p, 32, receive);
  putTimestamp(p, 40, transmit);
  for (std::size_t i = 48; i < p.size(); ++i) p[i] = static_cast<std::uint8_t>(0xa0 + i);
  return p;
}
// The server's authenticated reply: origin = `origin`, a MAC after the header.
Bytes longNtpReply(std::uint64_t origin) {
  Bytes p = ntpReply(origin, 48 + 24);
  putTimestamp(p, 40, 0x1122334455667788ULL);
  for (std::size_t i = 48; i < p.size(); ++i) p[i] = static_cast<std::uint8_t>(0x50 + i);
  return p;
}

// chrony with `xleave` and `key N`: an interleaved reply echoes the request's receive
// timestamp, not its transmit timestamp. The request passed unchanged, so that timestamp is the
// client's own: the reply is found under it and reaches the client byte for byte.
TEST_F(Proxy, InterleavedReplyToALongNtpRequestReachesItsClientUnchanged) {
  Frontend& fe = addFrontend(sharedNtpConfig("ntp", 1));
  start();
  Client a = client(), b = client();
  const Bytes req_a = longNtpRequest(0xe000000000000001ULL, 0xd000000000000001ULL);
  const Bytes req_b = longNtpRequest(0xe000000000000002ULL, 0xd000000000000002ULL);
  sendFromClient(a, listener(fe), req_a);
  sendFromClient(b, listener(fe), req_b);
  ASSERT_EQ(upstream.opened.size(), 1u);
  expectServerReceives(0, req_a);
  expectServerReceives(0, req_b);
  // b is answered in interleaved mode, a in basic mode; b's reply first.
  const Bytes interleaved = longNtpReply(0xd000000000000002ULL);
  const Bytes basic = longNtpReply(0xe000000000000001ULL);
  queueReplyFromServer(0, interleaved);
  queueReplyFromServer(0, basic);
  runLoop();
  expectReplyAt(b, listener(fe), interleaved);
  expectReplyAt(a, listener(fe), basic);
  EXPECT_EQ(fe.stats.replied, 2u);
  EXPECT_EQ(fe.backend()->servers()[0].stats.replied, 2u);
  // The same reply again, under either key, is an extra reply.
  replyFromServer(0, interleaved);
  expectNoReply(b);
  expectOnlyDrop(fe, Drop::ReplyUnexpected, 1);
  // Answered entries live until the timeout; then the second key is gone with them.
  expireAt(milliseconds(5000));
  replyFromServer(0, interleaved);
  EXPECT_EQ(dropped(fe, Drop::ReplyUnmatched), 1u);
  EXPECT_EQ(proxy->inflight().seconds(), 0u);
}

// A long request whose receive timestamp is 0, or equals its transmit timestamp (chrony's
// "answer in basic mode"), has no second key: only a reply echoing its transmit timestamp is
// its own.
TEST_F(Proxy, LongNtpRequestWithoutAReceiveTimestampHasOneKey) {
  Frontend& fe = addFrontend(sharedNtpConfig("ntp", 1));
  start();
  Client a = client();
  sendFromClient(a, listener(fe), longNtpRequest(0xe0000000000000a1ULL, 0));
  sendFromClient(a, listener(fe), longNtpRequest(0xe0000000000000a2ULL, 0xe0000000000000a2ULL));
  EXPECT_EQ(proxy->inflight().seconds(), 0u);
  replyFromServer(0, longNtpReply(0));
  EXPECT_EQ(dropped(fe, Drop::ReplyUnmatched), 1u);
  replyFromServer(0, longNtpReply(0xe0000000000000a2ULL));
  expectReplyAt(a, listener(fe), longNtpReply(0xe0000000000000a2ULL));
  expectOnlyDrop(fe, Drop::ReplyUnmatched, 1);
}

// Two requests in flight whose keys would name each other's replies: the later one does not
// share the earlier one's socket. With one socket in the pool it is dropped; both counted.
TEST_F(Proxy, LongNtpRequestWhoseKeysAreBusyIsCountedNotMixedUp) {
  Frontend& fe = addFrontend(sharedNtpConfig("ntp", 1));
  start();
  Client a = client(), b = client(), c = client();
  sendFromClient(a, listener(fe), longNtpRequest(0xe0000000000000b1ULL, 0xd0000000000000b1ULL));
  // b's receive timestamp is a's: an interleaved reply could be either's.
  sendFromClient(b, listener(fe), longNtpRequest(0xe0000000000000b2ULL, 0xd0000000000000b1ULL));
  // c's transmit timestamp is a's receive timestamp.
  sendFromClient(c, listener(fe), longNtpRequest(0xd0000000000000b1ULL, 0xd0000000000000b3ULL));
  EXPECT_EQ(fe.stats.token_collisions, 2u);
  expectOnlyDrop(fe, Drop::TokenBusy, 2);
  EXPECT_EQ(fe.stats.forwarded, 1u);
  replyFromServer(0, longNtpReply(0xd0000000000000b1ULL));
  expectReplyAt(a, listener(fe), longNtpReply(0xd0000000000000b1ULL));
  expectNoReply(b);
  expectNoReply(c);
}

// With two sockets in the pool, a request whose second key is busy on its batch's socket takes
// the other one (counted as a collision, not dropped).
TEST_F(Proxy, LongNtpRequestWhoseSecondKeyIsBusyTakesAnotherPoolSocket) {
  Frontend& fe = addFrontend(sharedNtpConfig("ntp", 2));
  start();
  Client a = client(), b = client(), warm = client();
  // Two batches open both sockets; the next batch takes socket 0 again.
  sendFromClient(warm, listener(fe), ntpRequest(1));
  sendFromClient(warm, listener(fe), ntpRequest(2));
  ASSERT_EQ(upstream.opened.size(), 2u);
  Bytes drain(2048);
  for (std::size_t sock = 0; sock < 2; ++sock) recv(upstream.opened[sock].peer.get(), drain.data(), drain.size(), 0);
  // One batch: both requests, with the same receive timestamp.
  const Bytes req_a = longNtpRequest(0xe0000000000000c1ULL, 0xd0000000000000c1ULL);
  const Bytes req_b = longNtpRequest(0xe0000000000000c2ULL, 0xd0000000000000c1ULL);
  for (const auto* send_one : {&req_a, &req_b}) {
    const Client& from = send_one == &req_a ? a : b;
    ASSERT_EQ(sendto(from.fd.get(), send_one->data(), send_one->size(), 0, listener(fe).addr.get(),
                     listener(fe).addr.length()),
              static_cast<ssize_t>(send_one->size()));
  }
  waitReadable(listener(fe).fd.get());
  runLoop();
  EXPECT_EQ(fe.stats.token_collisions, 1u);
  expectServerReceives(0, req_a);
  expectServerReceives(1, req_b);
  // Each socket's interleaved reply finds its own request.
  replyFromServer(1, longNtpReply(0xd0000000000000c1ULL));
  expectReplyAt(b, listener(fe), longNtpReply(0xd0000000000000c1ULL));
  expectNoReply(a);
  replyFromServer(0, longNtpReply(0xd0000000000000c1ULL));
  expectReplyAt(a, listener(fe), longNtpReply(0xd0000000000000c1ULL));
  expectNoDrops(fe);
}

TEST_F(Proxy, EqualRepliesToOneClientLeaveAsOneSegmentedDatagram) {
  Frontend& fe = addFrontend(frontendConfig("raw"));
  start();
  Client a = client();
  // With UDP_GRO the client sees what was sent: one GSO message arrives as one buffer, its
  // segment size in a control message.
  const int one = 1;
  ASSERT_EQ(setsockopt(a.fd.get(), SOL_UDP, UDP_GRO, &one, sizeof one), 0);
  sendFromClient(a, listener(fe), payload("q"));
  for (const char* r : {"aaaa", "bbbb", "cccc"}) queueReplyFromServer(0, payload(r));
  runLoop();
  ASSERT_TRUE(waitReadable(a.fd.get()));
  std::uint8_t buf[2048];
  alignas(cmsghdr) std::uint8_t control[CMSG_SPACE(sizeof(int))];
  iovec iov{buf, sizeof buf};
  msghdr h{};
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  h.msg_control = control;
  h.msg_controllen = sizeof control;
  const ssize_t n = recvmsg(a.fd.get(), &h, MSG_DONTWAIT);
  ASSERT_EQ(n, 12);
  EXPECT_EQ(Bytes(buf, buf + n), payload("aaaabbbbcccc"));
  const cmsghdr* c = CMSG_FIRSTHDR(&h);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->cmsg_type, UDP_GRO);
  EXPECT_EQ(fe.stats.replied, 3u);
}

}  // namespace
}  // namespace udpx::proxy_test

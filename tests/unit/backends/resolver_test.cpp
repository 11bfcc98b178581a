// Resolver: hosts-file and resolv.conf parsing, names answered from /etc/hosts (fixed, never
// re-resolved), a name whose resolver is unreachable keeping what it had (nothing) with an
// error, and a reload's changes on a running loop: names watched and unwatched, resolvers
// switched (the old evdns base goes once its cancelled lookups have called back). A small DNS
// server on the same loop answers A queries.
#include "backends/resolver.h"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>

#include <unistd.h>

#include "net/unique_fd.h"

#include "backends/backend.h"

namespace udpx {
namespace {

TEST(ParseHosts, MapsEveryNameAndAliasToItsAddresses) {
  const auto hosts = parseHosts(
      "# comment\n127.0.0.1 localhost\n::1 localhost ip6-localhost\n192.0.2.7  NTP.Example.org ntp # the clock\n"
      "not-an-ip name\n\n192.0.2.8 ntp\n");
  ASSERT_EQ(hosts.count("localhost"), 1u);
  ASSERT_EQ(hosts.at("localhost").size(), 2u);
  EXPECT_EQ(hosts.at("localhost")[0].ipString(), "127.0.0.1");
  EXPECT_EQ(hosts.at("localhost")[1].ipString(), "::1");
  EXPECT_EQ(hosts.at("ntp.example.org")[0].ipString(), "192.0.2.7");
  ASSERT_EQ(hosts.at("ntp").size(), 2u);
  EXPECT_EQ(hosts.count("name"), 0u);
}

TEST(ParseResolvConf, TakesNameserversTheLastSearchLineAndNdots) {
  const ResolvConf rc = parseResolvConf(
      "# comment\nnameserver 192.0.2.53\nnameserver ::1 ; old style\nnameserver bogus\ndomain a.example\n"
      "search b.example c.example\noptions rotate ndots:2 timeout:1\n");
  ASSERT_EQ(rc.nameservers.size(), 2u);
  EXPECT_EQ(rc.nameservers[0].toString(), "192.0.2.53:53");
  EXPECT_EQ(rc.nameservers[1].toString(), "[::1]:53");
  EXPECT_EQ(rc.search, (std::vector<std::string>{"b.example", "c.example"}));
  EXPECT_EQ(rc.ndots, 2);
  EXPECT_TRUE(parseResolvConf("").nameservers.empty());
  EXPECT_EQ(parseResolvConf("").ndots, -1);
}

// A DNS server on the test's loop: answers every A query with `address` (TTL 1 s) and every
// other query with no records; or, `silent`, never answers (lookups stay in flight).
class FakeDns {
 public:
  FakeDns(event_base* base, std::string address, bool silent = false) : address_(std::move(address)), silent_(silent) {
    fd_ = UniqueFd(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sin), sizeof sin), 0);
    socklen_t len = sizeof sin;
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&sin), &len);
    addr_ = SockAddr(reinterpret_cast<const sockaddr*>(&sin), len);
    ev_.reset(event_new(base, fd_.get(), EV_READ | EV_PERSIST, &FakeDns::onRead, this));
    event_add(ev_.get(), nullptr);
  }
  const SockAddr& addr() const { return addr_; }
  int queries = 0;

 private:
  static void onRead(evutil_socket_t fd, short, void* arg) {
    auto* self = static_cast<FakeDns*>(arg);
    unsigned char q[512];
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = ::recvfrom(fd, q, sizeof q, 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 17) return;
    ++self->queries;
    if (self->silent_) return;
    std::size_t end = 12;  // the question: labels, then type and class
    while (end < static_cast<std::size_t>(n) && q[end] != 0) end += q[end] + 1u;
    end += 5;
    if (end > static_cast<std::size_t>(n)) return;
    const bool a = q[end - 4] == 0 && q[end - 3] == 1;
    std::string r(reinterpret_cast<const char*>(q), end);
    r[2] = static_cast<char>(0x81);  // a response, recursion desired
    r[3] = static_cast<char>(0x80);  // recursion available, no error
    r[6] = 0;
    r[7] = a ? 1 : 0;  // answers
    r[8] = r[9] = r[10] = r[11] = 0;
    if (a) {
      in_addr ip{};
      inet_pton(AF_INET, self->address_.c_str(), &ip);
      const unsigned char rr[] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4};
      r.append(reinterpret_cast<const char*>(rr), sizeof rr);
      r.append(reinterpret_cast<const char*>(&ip), 4);
    }
    ::sendto(fd, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), from_len);
  }

  std::string address_;
  bool silent_;
  UniqueFd fd_;
  SockAddr addr_;
  EventPtr ev_;
};

class ResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_.reset(event_base_new());
    // One file per process: ctest runs the tests of this fixture in parallel processes.
    hosts_ = ::testing::TempDir() + "udpx_resolver_hosts." + std::to_string(::getpid());
    std::ofstream(hosts_) << "192.0.2.7 ntp.example.org\n";
  }
  void TearDown() override { std::remove(hosts_.c_str()); }

  BackendConfig backend(const std::string& host) {
    BackendConfig c;
    c.name = "b";
    ServerConfig s;
    s.text = host + ":123";
    s.host = host;
    s.port = 123;
    c.servers.push_back(s);
    c.resolve_min = milliseconds(100);
    return c;
  }

  // Runs the loop until `done` (at most 10 s).
  bool runUntil(const std::function<bool()>& done) {
    const TimePoint deadline = Clock::now() + std::chrono::seconds(10);
    EventPtr tick(evtimer_new(base_.get(), [](evutil_socket_t, short, void*) {}, nullptr));
    while (!done() && Clock::now() < deadline) {
      const timeval tv{0, 20000};
      evtimer_add(tick.get(), &tv);
      event_base_loop(base_.get(), EVLOOP_ONCE);
    }
    return done();
  }

  static std::vector<std::string> labels(const Backend& be) {
    std::vector<std::string> out;
    for (const Server& s : be.servers()) out.push_back(s.label() + " " + std::string(s.stateName()));
    return out;
  }

  EventBasePtr base_;
  std::string hosts_;
  std::mt19937_64 rng_{1};
};

TEST_F(ResolverTest, NamesFromTheHostsFileBecomeServersAtOnce) {
  const BackendConfig cfg = backend("NTP.example.org");
  Backend be(cfg, base_.get(), &rng_);
  // A resolver nobody answers: the hosts file must be enough.
  Resolver r(base_.get(), {*SockAddr::parse("127.0.0.1:9")}, hosts_);
  r.watch(be, cfg.servers[0]);
  r.start();
  EXPECT_TRUE(r.settled());
  ASSERT_EQ(be.servers().size(), 1u);
  EXPECT_EQ(be.servers()[0].label(), "192.0.2.7:123");
  EXPECT_EQ(be.servers()[0].origin(), "NTP.example.org:123");
  EXPECT_EQ(be.servers()[0].stateName(), "up");
  EXPECT_TRUE(r.names()[0]->from_hosts);
  EXPECT_EQ(r.source(), "global.resolvers (127.0.0.1:9)");
}

TEST_F(ResolverTest, AFailedResolutionIsReportedAndRetried) {
  const BackendConfig cfg = backend("nowhere.example.org");
  Backend be(cfg, base_.get(), &rng_);
  // Port 9 on loopback: nothing listens, every query is refused at once (ICMP).
  Resolver r(base_.get(), {*SockAddr::parse("127.0.0.1:9")}, hosts_);
  r.watch(be, cfg.servers[0]);
  r.start();
  const TimePoint deadline = Clock::now() + std::chrono::seconds(10);
  while (!r.settled() && Clock::now() < deadline) event_base_loop(base_.get(), EVLOOP_ONCE);
  ASSERT_TRUE(r.settled());
  EXPECT_TRUE(be.servers().empty());
  EXPECT_NE(r.names()[0]->error.find("cannot resolve nowhere.example.org"), std::string::npos) << r.names()[0]->error;
  EXPECT_GT(r.names()[0]->next, Clock::now() - std::chrono::seconds(1));
}

TEST_F(ResolverTest, ANameWatchedOnARunningLoopIsAskedAtOnce) {
  FakeDns dns(base_.get(), "192.0.2.11");
  const BackendConfig cfg = backend("added.example.org");
  Backend be(cfg, base_.get(), &rng_);
  // Started with no name at all (what a config without host names gives): no base yet.
  Resolver r(base_.get(), {dns.addr()}, hosts_);
  r.start();
  EXPECT_EQ(r.basesAlive(), 0u);
  r.watch(be, cfg.servers[0]);
  EXPECT_FALSE(r.settled());
  ASSERT_TRUE(runUntil([&] { return r.settled(); }));
  EXPECT_EQ(labels(be), (std::vector<std::string>{"192.0.2.11:123 up"}));
  EXPECT_GE(dns.queries, 1);
  EXPECT_TRUE(r.names()[0]->added_later);
}

TEST_F(ResolverTest, UnwatchingCancelsTheLookupsInFlightAndFreesTheNameAfterTheyCallBack) {
  FakeDns silent(base_.get(), "", true);
  const BackendConfig cfg = backend("slow.example.org");
  Backend be(cfg, base_.get(), &rng_);
  Resolver r(base_.get(), {silent.addr()}, hosts_);
  r.watch(be, cfg.servers[0]);
  r.start();
  ASSERT_TRUE(runUntil([&] { return silent.queries >= 1; }));
  r.unwatch(be, cfg.servers[0].text);
  EXPECT_TRUE(r.names().empty());
  EXPECT_EQ(r.namesLeaving(), 1u);  // its two lookups have not called back yet
  ASSERT_TRUE(runUntil([&] { return r.namesLeaving() == 0; }));
  EXPECT_TRUE(be.servers().empty());
}

TEST_F(ResolverTest, NewResolversGetTheLookupsAndTheOldBaseGoesOnceTheyCalledBack) {
  FakeDns silent(base_.get(), "", true);
  FakeDns good(base_.get(), "192.0.2.12");
  const BackendConfig cfg = backend("moved.example.org");
  Backend be(cfg, base_.get(), &rng_);
  Resolver r(base_.get(), {silent.addr()}, hosts_);
  r.watch(be, cfg.servers[0]);
  r.start();
  ASSERT_TRUE(runUntil([&] { return silent.queries >= 1; }));
  EXPECT_EQ(r.basesAlive(), 1u);

  r.setResolvers({good.addr()});
  EXPECT_EQ(r.basesRetired(), 1u);  // the old one waits for its cancelled lookups
  EXPECT_EQ(r.source(), "global.resolvers (" + good.addr().toString() + ")");
  ASSERT_TRUE(runUntil([&] { return r.settled() && r.basesRetired() == 0; }));
  EXPECT_EQ(r.basesAlive(), 1u);
  EXPECT_EQ(labels(be), (std::vector<std::string>{"192.0.2.12:123 up"}));
  EXPECT_TRUE(r.names()[0]->error.empty()) << r.names()[0]->error;
  EXPECT_GE(good.queries, 1);

  // The same list again changes nothing.
  r.setResolvers({good.addr()});
  EXPECT_EQ(r.basesAlive(), 1u);
}

TEST_F(ResolverTest, ANameAReloadAddsIsProbedFirstWhileTheBackendHasAUsableServer) {
  FakeDns dns(base_.get(), "192.0.2.13");
  BackendConfig cfg = backend("second.example.org");
  ServerConfig literal;
  literal.text = "192.0.2.1:123";
  literal.literal = SockAddr::parse(literal.text);
  cfg.servers.insert(cfg.servers.begin(), literal);
  cfg.health.probe.type = ProbeType::Ntp;
  Backend be(cfg, base_.get(), &rng_);
  Resolver r(base_.get(), {dns.addr()}, hosts_);
  r.start();
  r.watch(be, cfg.servers[1]);
  ASSERT_TRUE(runUntil([&] { return r.settled(); }));
  EXPECT_EQ(labels(be), (std::vector<std::string>{"192.0.2.1:123 up", "192.0.2.13:123 pending"}));
}

}  // namespace
}  // namespace udpx

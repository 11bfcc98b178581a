// TcpRelay on a real event loop with loopback sockets: bytes both ways, half-close passed on,
// failover past a server that refuses, and refusals counted by reason. Bounded loops, no sleeps
// beyond a 1 ms poll between turns of the loop.
#include "dataplane/tcp_relay.h"

#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "backends/backend.h"
#include "dataplane/frontend.h"
#include "net/listen_socket.h"

namespace udpx {
namespace {

SockAddr localAddress(int fd) {
  sockaddr_in6 sa{};
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  return SockAddr(reinterpret_cast<const sockaddr*>(&sa), len);
}

// A port where nothing listens (bound, not listening: connecting is refused).
struct ClosedPort {
  UniqueFd fd{socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  SockAddr addr;
  ClosedPort() {
    const SockAddr any = *SockAddr::parseIp("127.0.0.1", 0);
    EXPECT_EQ(bind(fd.get(), any.get(), any.length()), 0);
    addr = localAddress(fd.get());
  }
};

class TcpRelayTest : public ::testing::Test {
 protected:
  EventBasePtr base{event_base_new()};
  UniqueFd server;  // the upstream's listening socket
  SockAddr server_addr;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<Frontend> frontend;
  std::unique_ptr<TcpRelay> relay;
  SockAddr relay_addr;

  void SetUp() override {
    std::string error;
    server = openTcpListenSocket(*SockAddr::parseIp("127.0.0.1", 0), error);
    ASSERT_TRUE(server.valid()) << error;
    server_addr = localAddress(server.get());
  }

  void build(std::vector<SockAddr> servers, const std::string& allow = "127.0.0.0/8") {
    BackendConfig bc;
    bc.name = "b";
    bc.health.probe.type = ProbeType::None;
    for (const SockAddr& a : servers) {
      ServerConfig sc;
      sc.literal = a;
      sc.text = a.toString();
      bc.servers.push_back(sc);
    }
    bc.balance = Balance::First;
    backend = std::make_unique<Backend>(bc, nullptr, nullptr);
    FrontendConfig fc;
    fc.name = "f";
    fc.backend = "b";
    fc.tcp = true;
    std::string error;
    fc.allow = {*Cidr::parse(allow, error)};
    frontend = std::make_unique<Frontend>(fc, backend.get());
    relay = std::make_unique<TcpRelay>(base.get(), *frontend);
    UniqueFd l = openTcpListenSocket(*SockAddr::parseIp("127.0.0.1", 0), error);
    ASSERT_TRUE(l.valid()) << error;
    relay_addr = localAddress(l.get());
    relay->addListener(relay_addr, std::move(l));
    relay->start();
  }

  UniqueFd connectClient() {
    UniqueFd c(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(connect(c.get(), relay_addr.get(), relay_addr.length()), 0);  // the backlog takes it
    return c;
  }

  // Turns the loop until `done` holds (at most 3,000 turns of at most 1 ms each).
  bool runUntil(const std::function<bool()>& done) {
    for (int i = 0; i < 3000; ++i) {
      event_base_loop(base.get(), EVLOOP_NONBLOCK);
      if (done()) return true;
      poll(nullptr, 0, 1);
    }
    return false;
  }

  static std::string readSome(int fd) {
    char buf[256];
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  }
  static bool atEof(int fd) {
    char c;
    return recv(fd, &c, 1, MSG_DONTWAIT) == 0;
  }
};

TEST_F(TcpRelayTest, RelaysBothWaysAndPassesHalfCloseOn) {
  build({server_addr});
  UniqueFd client = connectClient();
  ASSERT_EQ(send(client.get(), "ping", 4, 0), 4);
  ASSERT_EQ(shutdown(client.get(), SHUT_WR), 0);
  UniqueFd up;
  std::string got;
  ASSERT_TRUE(runUntil([&] {
    if (!up.valid()) up = UniqueFd(accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (up.valid()) got += readSome(up.get());
    return got == "ping" && atEof(up.get());  // the client's end of file reached the server
  }));
  ASSERT_EQ(send(up.get(), "pong", 4, 0), 4);
  up.reset();  // the server closes its side
  std::string back;
  ASSERT_TRUE(runUntil([&] {
    back += readSome(client.get());
    return back == "pong" && atEof(client.get());
  }));
  ASSERT_TRUE(runUntil([&] { return frontend->tcp_open == 0; }));
  const TcpStats& s = frontend->tcp;
  EXPECT_EQ(s.accepted, 1u);
  EXPECT_EQ(s.closed_done, 1u);
  EXPECT_EQ(s.bytes_to_server, 4u);
  EXPECT_EQ(s.bytes_to_client, 4u);
  EXPECT_EQ(s.refused(), 0u);
  EXPECT_EQ(backend->activeSessions(), 0u);  // the connection let go of its server
}

// Pipes this process has open (/proc/self/fd entries "pipe:[…]").
int openPipeEnds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    char link[64] = {};
    const std::string path = std::string("/proc/self/fd/") + e->d_name;
    if (readlink(path.c_str(), link, sizeof link - 1) > 0 && std::string(link).rfind("pipe:", 0) == 0) ++n;
  }
  closedir(d);
  return n;
}

// DNS-sized exchanges are copied (a recv and a send, no pipe: 4 descriptors fewer per
// connection); a read that fills the small buffer turns that direction to splice through a
// pipe, and not a byte is lost or reordered across the switch.
TEST_F(TcpRelayTest, SmallExchangesAreCopiedAndABulkTransferTurnsToSplice) {
  build({server_addr});
  const int pipes_before = openPipeEnds();
  UniqueFd client = connectClient();
  UniqueFd up;
  for (int i = 0; i < 20; ++i) {
    const std::string q = "query " + std::to_string(i);
    ASSERT_EQ(send(client.get(), q.data(), q.size(), 0), static_cast<ssize_t>(q.size()));
    std::string got;
    ASSERT_TRUE(runUntil([&] {
      if (!up.valid()) up = UniqueFd(accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
      if (up.valid()) got += readSome(up.get());
      return got == q;
    }));
    const std::string a = "answer " + std::to_string(i);
    ASSERT_EQ(send(up.get(), a.data(), a.size(), 0), static_cast<ssize_t>(a.size()));
    std::string back;
    ASSERT_TRUE(runUntil([&] {
      back += readSome(client.get());
      return back == a;
    }));
  }
  EXPECT_EQ(openPipeEnds(), pipes_before);  // 20 exchanges, no pipe

  // 1 MiB of a pattern from the client: the server gets every byte in order.
  std::string bulk(1 << 20, '\0');
  for (std::size_t i = 0; i < bulk.size(); ++i) bulk[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  std::size_t sent = 0;
  std::string got;
  got.reserve(bulk.size());
  ASSERT_TRUE(runUntil([&] {
    if (sent < bulk.size()) {
      const ssize_t n = send(client.get(), bulk.data() + sent, bulk.size() - sent, MSG_DONTWAIT);
      if (n > 0) sent += static_cast<std::size_t>(n);
    }
    char buf[65536];
    ssize_t n;
    while ((n = recv(up.get(), buf, sizeof buf, MSG_DONTWAIT)) > 0) got.append(buf, static_cast<std::size_t>(n));
    return got.size() == bulk.size();
  }));
  EXPECT_TRUE(got == bulk) << "the bytes changed on the way";
  EXPECT_EQ(openPipeEnds(), pipes_before + 2);  // the client-to-server direction splices now
  EXPECT_EQ(frontend->tcp.bytes_to_server, bulk.size() + 20 * std::string("query 1").size() + 10);
}

TEST_F(TcpRelayTest, FailsOverPastAServerThatRefuses) {
  ClosedPort closed;
  build({closed.addr, server_addr});
  UniqueFd client = connectClient();
  UniqueFd up;
  ASSERT_TRUE(runUntil([&] {
    up = UniqueFd(accept4(server.get(), nullptr, nullptr, SOCK_CLOEXEC));
    return up.valid();
  }));
  EXPECT_EQ(frontend->tcp.refused(), 0u);
  EXPECT_EQ(frontend->tcp_open, 1u);
}

TEST_F(TcpRelayTest, EveryServerRefusingIsCountedAndTheClientClosed) {
  ClosedPort closed;
  build({closed.addr});
  UniqueFd client = connectClient();
  ASSERT_TRUE(runUntil([&] { return frontend->tcp.refused_upstream == 1; }));
  EXPECT_TRUE(runUntil([&] { return atEof(client.get()); }));
  EXPECT_EQ(frontend->tcp_open, 0u);
  EXPECT_EQ(backend->activeSessions(), 0u);
}

TEST_F(TcpRelayTest, AClientOutsideAllowIsRefused) {
  build({server_addr}, "10.0.0.0/8");
  UniqueFd client = connectClient();
  ASSERT_TRUE(runUntil([&] { return frontend->tcp.refused_acl == 1; }));
  EXPECT_EQ(frontend->tcp.accepted, 1u);
  EXPECT_TRUE(runUntil([&] { return atEof(client.get()); }));
}

}  // namespace
}  // namespace udpx

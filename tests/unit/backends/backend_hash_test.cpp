// Backend with balance = "hash": a client keeps its server across ports, clients spread over
// the servers, and a server going down moves only its own clients (rendezvous hashing).
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "backends/backend.h"

namespace udpx {
namespace {

const TimePoint t0 = TimePoint{} + std::chrono::hours(1);

BackendConfig hashConfig(int n) {
  BackendConfig c;
  c.name = "b";
  c.balance = Balance::Hash;
  c.health.probe.type = ProbeType::None;
  for (int i = 0; i < n; ++i) {
    ServerConfig s;
    s.literal = *SockAddr::parse("127.0.1." + std::to_string(i + 1) + ":123");
    s.text = s.literal->toString();
    c.servers.push_back(s);
  }
  return c;
}

SockAddr client(int i, int port = 40000) {
  return *SockAddr::parse("10." + std::to_string(i / 65536) + "." + std::to_string((i / 256) % 256) + "." +
                          std::to_string(i % 256) + ":" + std::to_string(port));
}

TEST(BackendHash, AClientKeepsItsServerWhateverItsPort) {
  Backend b(hashConfig(4), nullptr, nullptr);
  for (int i = 0; i < 50; ++i) {
    const SockAddr first = client(i);
    Server* s = b.pick(&first);
    ASSERT_NE(s, nullptr);
    for (int port = 1024; port < 65536; port += 4099) {
      const SockAddr other = client(i, port);
      EXPECT_EQ(b.pick(&other), s) << first.toString();
    }
  }
}

TEST(BackendHash, ClientsSpreadOverTheServers) {
  Backend b(hashConfig(4), nullptr, nullptr);
  std::map<std::string, int> per;
  for (int i = 0; i < 4000; ++i) {
    const SockAddr c = client(i);
    ++per[b.pick(&c)->label()];
  }
  ASSERT_EQ(per.size(), 4u);
  for (const auto& [label, n] : per) {
    EXPECT_GT(n, 800) << label;  // an even share is 1000
    EXPECT_LT(n, 1200) << label;
  }
}

TEST(BackendHash, AServerGoingDownMovesOnlyItsOwnClients) {
  Backend b(hashConfig(4), nullptr, nullptr);
  std::map<int, Server*> before;
  for (int i = 0; i < 2000; ++i) {
    const SockAddr c = client(i);
    before[i] = b.pick(&c);
  }
  Server& gone = b.servers()[2];
  b.markRefused(gone, t0);
  ASSERT_FALSE(gone.eligible());
  int moved = 0;
  for (int i = 0; i < 2000; ++i) {
    const SockAddr c = client(i);
    Server* now = b.pick(&c);
    EXPECT_NE(now, &gone);
    if (before[i] != &gone) {
      EXPECT_EQ(now, before[i]) << "client " << i << " moved although its server stayed up";
    } else {
      ++moved;
    }
  }
  EXPECT_GT(moved, 0);
  // Back up: its clients come back to it.
  b.retry(gone, t0 + std::chrono::seconds(10));
  ASSERT_TRUE(gone.eligible());
  for (int i = 0; i < 2000; ++i) {
    const SockAddr c = client(i);
    EXPECT_EQ(b.pick(&c), before[i]);
  }
}

TEST(BackendHash, FailsOpenOrDropsWhenEveryServerIsDown) {
  BackendConfig cfg = hashConfig(2);
  Backend open(cfg, nullptr, nullptr);
  for (Server& s : open.servers()) open.markRefused(s, t0);
  const SockAddr c = client(7);
  EXPECT_NE(open.pick(&c), nullptr);
  cfg.on_all_down = OnAllDown::Drop;
  Backend drop(cfg, nullptr, nullptr);
  for (Server& s : drop.servers()) drop.markRefused(s, t0);
  EXPECT_EQ(drop.pick(&c), nullptr);
}

}  // namespace
}  // namespace udpx

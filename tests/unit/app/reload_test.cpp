// Runtime::reload on a real Runtime (loopback listeners, no status socket): refused whole with
// FILE:LINE:COL, the fixed part needs a restart, sockets that stay are the same fd, new ones are
// bound, removed ones closed, no descriptor leaks over many reloads; and the time a reload of
// 100 frontends takes (printed, not asserted: bench/RESULTS.md).
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "app/runtime.h"
#include "net/listen_socket.h"

namespace udpx {
namespace {

// A loopback UDP port nothing uses right now (bound once, then let go).
std::uint16_t freePort() {
  UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    ADD_FAILURE() << "no free port";
  }
  return ntohs(sa.sin_port);
}

bool portFree(std::uint16_t port) {
  std::string why;
  return openListenSocket(*SockAddr::parse("127.0.0.1:" + std::to_string(port)), why).valid();
}

std::string frontend(const std::string& name, std::uint16_t port, const std::string& extra = "") {
  return "[frontend." + name + "]\nlisten = [\"127.0.0.1:" + std::to_string(port) +
         "\"]\npreset = \"ntp\"\nbackend = \"b\"\n" + extra;
}

std::string backend(const std::string& servers = "\"127.0.0.1:9\"") {
  return "[backend.b]\nservers = [" + servers + "]\n";
}

const std::string kGlobal = "[global]\nstatus = \"off\"\n";

int openFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

class RuntimeReload : public ::testing::Test {
 protected:
  // Starts a Runtime from `text`, with a socket opened here for every listen address.
  void start(const std::string& text) {
    LoadResult r = loadConfigString(text, "reload.toml");
    for (const ConfigError& e : r.errors) ADD_FAILURE() << e.format();
    ASSERT_TRUE(r.config);
    rt = std::make_unique<Runtime>(*r.config);
    std::vector<UniqueFd> fds;
    for (const FrontendConfig& f : r.config->frontends) {
      for (const SockAddr& a : f.listen) {
        std::string why;
        fds.push_back(openListenSocket(a, why));
        first_fds.push_back(fds.back().get());
      }
    }
    std::vector<std::string> errors;
    ASSERT_TRUE(rt->adoptListeners(std::move(fds), errors));
    rt->prepare();
  }

  ReloadOutcome reload(const std::string& text) {
    ReloadRequest req;
    req.config_name = "reload.toml";
    req.config_text = text;
    return rt->reload(std::move(req));
  }

  std::unique_ptr<Runtime> rt;
  std::vector<int> first_fds;
};

TEST_F(RuntimeReload, ABrokenFileIsRefusedWholeWithPositions) {
  const std::uint16_t p = freePort();
  start(kGlobal + frontend("a", p) + backend());
  const std::string before = rt->statusJson();
  const std::uint16_t q = freePort();
  // One good change (a new frontend) and two errors: nothing of it may apply.
  const ReloadOutcome out = reload(kGlobal + frontend("a", p, "session_timeout = \"soon\"\n") + frontend("c", q) +
                                   backend("\"127.0.0.1:99999\""));
  EXPECT_FALSE(out.applied);
  ASSERT_EQ(out.errors.size(), 2u);
  EXPECT_EQ(out.errors[0].rfind("reload.toml:7:", 0), 0u) << out.errors[0];
  EXPECT_NE(out.errors[1].find("reload.toml:"), std::string::npos) << out.errors[1];
  EXPECT_TRUE(out.summary.empty());
  EXPECT_EQ(rt->reloads().failed, 1u);
  EXPECT_EQ(rt->reloads().succeeded, 0u);
  EXPECT_TRUE(portFree(q));  // the new frontend's socket was not kept
  EXPECT_FALSE(portFree(p));
  const std::string after = rt->statusJson();
  EXPECT_NE(after.find("the last reload of reload.toml failed at"), std::string::npos);
  EXPECT_NE(after.find("udpx check -c reload.toml"), std::string::npos);
  // A good reload clears the problem.
  EXPECT_TRUE(reload(kGlobal + frontend("a", p) + backend()).applied);
  EXPECT_EQ(rt->statusJson().find("the last reload"), std::string::npos);
}

TEST_F(RuntimeReload, TheFixedPartNeedsARestart) {
  const std::uint16_t p = freePort();
  start(kGlobal + frontend("a", p) + backend());
  // (global.status may move anywhere: the binder or the loop makes a new socket file.)
  const ReloadOutcome out = reload("[global]\nuser = \"nobody\"\nchroot = \"/var/empty\"\n" + frontend("a", p) +
                                   backend("\"127.0.0.2:9\""));
  EXPECT_FALSE(out.applied);
  ASSERT_EQ(out.errors.size(), 2u);
  EXPECT_EQ(out.errors[0].rfind("reload.toml:2:", 0), 0u) << out.errors[0];
  EXPECT_NE(out.errors[0].find("global.user"), std::string::npos);
  EXPECT_NE(out.errors[0].find("needs a restart"), std::string::npos);
  EXPECT_EQ(out.errors[1].rfind("reload.toml:3:", 0), 0u) << out.errors[1];
  EXPECT_NE(out.errors[1].find("global.chroot"), std::string::npos);
  EXPECT_NE(out.errors[1].find("needs a restart"), std::string::npos);
  // The server change beside it was not applied.
  EXPECT_NE(rt->statusJson().find("127.0.0.1:9"), std::string::npos);
  EXPECT_EQ(rt->statusJson().find("127.0.0.2:9"), std::string::npos);
}

TEST_F(RuntimeReload, SocketsThatStayAreKeptNewOnesBoundRemovedOnesClosed) {
  const std::uint16_t a = freePort(), b = freePort();
  start(kGlobal + frontend("a", a) + frontend("b", b) + backend());
  const int fd_a = first_fds[0];
  const std::uint16_t c = freePort();
  ReloadOutcome out = reload(kGlobal + frontend("a", a) + frontend("c", c) + backend("\"127.0.0.1:9\", \"127.0.0.1:10\""));
  ASSERT_TRUE(out.applied) << (out.errors.empty() ? "" : out.errors[0]);
  EXPECT_EQ(out.summary, "+1 frontend (c), -1 frontend (b), backend b: 1 server added");
  // a's socket is the same descriptor, still bound to its port.
  std::string why;
  EXPECT_EQ(boundUdpAddress(fd_a, why).port(), a);
  EXPECT_TRUE(portFree(b));
  EXPECT_FALSE(portFree(c));
  EXPECT_EQ(reload(kGlobal + frontend("a", a) + frontend("c", c) + backend("\"127.0.0.1:9\", \"127.0.0.1:10\"")).summary,
            "no change");
  EXPECT_EQ(rt->reloads().succeeded, 2u);
}

TEST_F(RuntimeReload, AnAddressMovesToAnotherFrontendWithItsSocket) {
  const std::uint16_t a = freePort();
  start(kGlobal + frontend("a", a) + backend());
  const int fd = first_fds[0];
  const ReloadOutcome out = reload(kGlobal + frontend("z", a) + backend());
  ASSERT_TRUE(out.applied) << (out.errors.empty() ? "" : out.errors[0]);
  std::string why;
  EXPECT_EQ(boundUdpAddress(fd, why).port(), a);
}

TEST_F(RuntimeReload, WithInheritedSocketsANewAddressIsRefused) {
  const std::uint16_t a = freePort(), c = freePort();
  start(kGlobal + frontend("a", a) + backend());
  rt->refuseBindingNewListeners("they come from --listen-fd");
  ReloadOutcome out = reload(kGlobal + frontend("a", a) + frontend("c", c) + backend());
  EXPECT_FALSE(out.applied);
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_NE(out.errors[0].find("frontend \"c\": new listen address 127.0.0.1:" + std::to_string(c)), std::string::npos);
  EXPECT_NE(out.errors[0].find("--listen-fd"), std::string::npos);
  // ...unless the socket is handed over with the request.
  ReloadRequest req;
  req.config_name = "reload.toml";
  req.config_text = kGlobal + frontend("a", a) + frontend("c", c) + backend();
  std::string why;
  req.new_listeners.push_back(openListenSocket(*SockAddr::parse("127.0.0.1:" + std::to_string(c)), why));
  const int handed = req.new_listeners.back().get();
  out = rt->reload(std::move(req));
  EXPECT_TRUE(out.applied) << (out.errors.empty() ? "" : out.errors[0]);
  EXPECT_EQ(boundUdpAddress(handed, why).port(), c);
}

TEST_F(RuntimeReload, ManyReloadsLeakNoDescriptor) {
  const std::uint16_t a = freePort(), c = freePort();
  start(kGlobal + frontend("a", a) + backend());
  const std::string one = kGlobal + frontend("a", a) + backend();
  const std::string two = kGlobal + frontend("a", a, "session_timeout = \"5s\"\n") + frontend("c", c) +
                          backend("\"127.0.0.1:9\", \"127.0.0.1:10\"");
  const int fds = openFds();
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(reload(i % 2 == 0 ? two : one).applied);
    if (i % 50 == 0) {
      ASSERT_FALSE(reload("broken = [").applied);
    }
  }
  EXPECT_EQ(openFds(), fds);
}

// The pause a reload puts in the loop: 100 frontends added, then unchanged, then every timeout
// changed. Printed for bench/RESULTS.md; machines are noisy, so nothing is asserted on it.
TEST_F(RuntimeReload, PauseOfAReloadWith100Frontends) {
  const std::uint16_t a = freePort();
  start(kGlobal + frontend("a", a) + backend());
  std::vector<std::uint16_t> ports;
  while (ports.size() < 100) {
    const std::uint16_t p = freePort();
    if (p != a && std::find(ports.begin(), ports.end(), p) == ports.end()) ports.push_back(p);
  }
  const auto config = [&](const char* timeout) {
    std::string t = kGlobal + frontend("a", a);
    for (int i = 0; i < 100; ++i) {
      t += frontend("f" + std::to_string(i), ports[static_cast<std::size_t>(i)],
                    std::string("session_timeout = \"") + timeout + "\"\n");
    }
    return t + backend();
  };
  const std::string added = config("60s"), changed = config("30s");
  const auto timed = [&](const std::string& text, const char* what) {
    const auto t0 = std::chrono::steady_clock::now();
    const ReloadOutcome out = reload(text);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_TRUE(out.applied) << (out.errors.empty() ? "" : out.errors[0]);
    std::printf("reload pause, 100 frontends, %s: %.2f ms\n", what, ms);
    RecordProperty(what, std::to_string(ms));
  };
  timed(added, "100 added");
  timed(added, "unchanged");
  timed(changed, "100 timeouts changed");
  timed(kGlobal + frontend("a", a) + backend(), "100 removed");
}

}  // namespace
}  // namespace udpx

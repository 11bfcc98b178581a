// The binder's read-and-bind step of a reload (src/privsep/binder_reload.cpp): only new addresses
// are bound, sockets of addresses that stay are kept, the ones that go are closed, and every way
// it fails says why and how to fix it.
#include "privsep/binder_reload.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "net/listen_socket.h"
#include "status/status_socket.h"

namespace udpx::privsep {
namespace {

// A free UDP port on 127.0.0.1 (bound to 0 and released).
int freePort() {
  UniqueFd s(socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

SockAddr addr(int port) {
  auto a = SockAddr::parse("127.0.0.1:" + std::to_string(port));
  EXPECT_TRUE(a);
  return *a;
}

std::string config(std::initializer_list<int> ports) {
  std::string listen;
  for (int p : ports) listen += (listen.empty() ? "" : ", ") + ("\"127.0.0.1:" + std::to_string(p) + "\"");
  return "[frontend.a]\nlisten = [" + listen + "]\npreset = \"raw\"\nbackend = \"b\"\n\n[backend.b]\nservers = "
         "[\"127.0.0.1:9\"]\n";
}

class BinderReloadTest : public ::testing::Test {
 protected:
  std::string path_ = "/tmp/udpx-binder-reload-test-" + std::to_string(getpid()) + ".toml";
  void write(const std::string& text) { std::ofstream(path_) << text; }
  void TearDown() override { std::remove(path_.c_str()); }
};

TEST_F(BinderReloadTest, BindsOnlyTheNewAddresses) {
  const int kept = freePort(), added = freePort();
  std::vector<ServedListener> served;
  std::string why;
  served.push_back({addr(kept), openListenSocket(addr(kept), why)});
  ASSERT_TRUE(served[0].fd.valid()) << why;
  write(config({kept, added}));
  BinderReload r = readAndBind({path_, true}, served);
  EXPECT_TRUE(r.errors.empty()) << r.errors[0];
  EXPECT_EQ(r.text, config({kept, added}));
  ASSERT_EQ(r.fresh.size(), 1u);
  EXPECT_EQ(r.fresh[0].addr, addr(added));
  EXPECT_EQ(boundUdpAddress(r.fresh[0].fd.get(), why), addr(added)) << why;
  ASSERT_EQ(r.listen.size(), 2u);
}

TEST_F(BinderReloadTest, ServedAfterKeepsStayingSocketsAddsFreshOnesAndClosesTheRest) {
  const int kept = freePort(), gone = freePort(), added = freePort();
  std::vector<ServedListener> served;
  std::string why;
  served.push_back({addr(gone), openListenSocket(addr(gone), why)});
  served.push_back({addr(kept), openListenSocket(addr(kept), why)});
  const int kept_fd = served[1].fd.get();
  write(config({added, kept}));
  BinderReload r = readAndBind({path_, true}, served);
  ASSERT_TRUE(r.errors.empty());
  std::vector<ServedListener> now = servedAfter(std::move(served), r);
  ASSERT_EQ(now.size(), 2u);
  EXPECT_EQ(now[0].addr, addr(added));
  EXPECT_EQ(now[1].addr, addr(kept));
  EXPECT_EQ(now[1].fd.get(), kept_fd);  // the same socket: not rebound
  // The gone address is free again: the binder's copy was closed.
  UniqueFd again = openListenSocket(addr(gone), why);
  EXPECT_TRUE(again.valid()) << why;
}

TEST_F(BinderReloadTest, SocketsFromOutsideRefuseANewAddress) {
  const int kept = freePort(), added = freePort();
  std::vector<ServedListener> served;
  served.push_back({addr(kept), UniqueFd()});
  write(config({kept, added}));
  BinderReload r = readAndBind({path_, false}, served);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("127.0.0.1:" + std::to_string(added) + " is new"), std::string::npos) << r.errors[0];
  EXPECT_NE(r.errors[0].find("ListenDatagram="), std::string::npos) << r.errors[0];
  EXPECT_TRUE(r.fresh.empty());
}

TEST_F(BinderReloadTest, AnAddressInUseIsAnError) {
  const int taken = freePort();
  std::string why;
  UniqueFd other = openListenSocket(addr(taken), why);
  ASSERT_TRUE(other.valid()) << why;
  write(config({taken}));
  BinderReload r = readAndBind({path_, true}, {});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("frontend \"a\": cannot listen on 127.0.0.1:" + std::to_string(taken)), std::string::npos)
      << r.errors[0];
}

TEST_F(BinderReloadTest, ABrokenFileIsHandedOnWithoutBinding) {
  write("[frontend.a]\nlisten = [\"127.0.0.1:1\"]\nbogus = 1\n");
  BinderReload r = readAndBind({path_, true}, {});
  EXPECT_TRUE(r.errors.empty());  // the worker reports the file's errors with their positions
  EXPECT_FALSE(r.text.empty());
  EXPECT_TRUE(r.fresh.empty());
  EXPECT_TRUE(r.listen.empty());
}

TEST_F(BinderReloadTest, AMissingFileAndPresetFlagsAreErrors) {
  BinderReload r = readAndBind({path_ + ".missing", true}, {});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("No such file"), std::string::npos) << r.errors[0];
  r = readAndBind({"", true}, {});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("--preset"), std::string::npos) << r.errors[0];
}

// A reload that moves global.status to a socket file nothing listens on: the binder makes it
// (mode 0666) and hands it; where something listens already (the worker itself), it makes none.
TEST_F(BinderReloadTest, MakesTheStatusSocketFileOfAMovedEndpoint) {
  const std::string sock = "/tmp/udpx-binder-reload-test-" + std::to_string(getpid()) + ".sock";
  ::unlink(sock.c_str());
  write(config({freePort()}) + "\n[global]\nstatus = \"" + sock + "\"\n");
  BinderReload r = readAndBind({path_, true}, {});
  EXPECT_TRUE(r.errors.empty()) << r.errors[0];
  EXPECT_EQ(r.status, sock);
  ASSERT_TRUE(r.status_fd.valid());
  EXPECT_EQ(boundSocketPath(r.status_fd.get()), sock);
  struct stat st {};
  ASSERT_EQ(::stat(sock.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0666u);
  // Listening there now: a second reload to the same path makes nothing.
  r.fresh.clear();  // (the same port again)
  BinderReload again = readAndBind({path_, true}, {});
  EXPECT_TRUE(again.errors.empty()) << again.errors[0];
  EXPECT_FALSE(again.status_fd.valid());
  // Once nothing listens, forgetStatusFile removes it; an abstract name or "off" is left alone.
  r.status_fd.reset();
  forgetStatusFile(sock);
  EXPECT_NE(::stat(sock.c_str(), &st), 0);
  forgetStatusFile("@udpx:whatever");
  forgetStatusFile("off");
}

TEST_F(BinderReloadTest, TheDefaultStatusEndpointIsMadeAgainAndAnAbstractOneNever) {
  const std::string sock = "/tmp/udpx-binder-reload-test-" + std::to_string(getpid()) + ".default.sock";
  ::unlink(sock.c_str());
  write(config({freePort()}));
  ReloadSource src{path_, true};
  src.status_default = sock;
  BinderReload r = readAndBind(src, {});
  EXPECT_EQ(r.status, sock);
  EXPECT_TRUE(r.status_fd.valid());
  r.status_fd.reset();
  forgetStatusFile(sock);
  src.status_default = "@udpx-test-abstract";
  r = readAndBind(src, {});
  EXPECT_EQ(r.status, "@udpx-test-abstract");
  EXPECT_FALSE(r.status_fd.valid());  // the worker binds an abstract name itself
}

TEST_F(BinderReloadTest, AStatusSocketFileItCannotMakeIsAnErrorWithItsPosition) {
  write(config({freePort()}) + "\n[global]\nstatus = \"/nonexistent-udpx-dir/s.sock\"\n");
  BinderReload r = readAndBind({path_, true}, {});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find(path_ + ":10:"), std::string::npos) << r.errors[0];
  EXPECT_NE(r.errors[0].find("global.status"), std::string::npos) << r.errors[0];
  EXPECT_NE(r.errors[0].find("cannot create the status socket /nonexistent-udpx-dir/s.sock: No such file"),
            std::string::npos)
      << r.errors[0];
  EXPECT_NE(r.errors[0].find("after start-up the binder runs as "), std::string::npos) << r.errors[0];
  EXPECT_FALSE(r.status_fd.valid());
}

TEST_F(BinderReloadTest, UnreadableFileSaysWhoMustReadItAndHow) {
  write(config({1}));
  ASSERT_EQ(chmod(path_.c_str(), 0600), 0);
  Identity who{4242, 4343, "udpx", "udpxgrp"};
  const std::string e = unreadableConfigError(path_, EACCES, who);
  EXPECT_NE(e.find("cannot read " + path_ + ": Permission denied"), std::string::npos) << e;
  EXPECT_NE(e.find("runs as udpx:udpxgrp (uid 4242)"), std::string::npos) << e;
  EXPECT_NE(e.find("mode 0600"), std::string::npos) << e;
  EXPECT_NE(e.find("chgrp udpxgrp " + path_ + " && chmod 0640 " + path_), std::string::npos) << e;
}

}  // namespace
}  // namespace udpx::privsep

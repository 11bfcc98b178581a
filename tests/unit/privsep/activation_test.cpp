// Sockets from outside (src/privsep/activation.cpp): LISTEN_FDS/LISTEN_PID, --listen-fd, and the
// matching of inherited sockets to listen addresses by getsockname.
#include "privsep/activation.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <vector>

#include "privsep/binder.h"

namespace udpx::privsep {
namespace {

// A UDP socket bound to 127.0.0.1 on a port the kernel picks; returns it and its port.
UniqueFd boundSocket(std::uint16_t& port, int type = SOCK_DGRAM) {
  UniqueFd fd(socket(AF_INET, type | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  return fd;
}

Config configListening(const std::vector<std::pair<std::string, std::vector<std::string>>>& frontends) {
  Config c;
  for (const auto& [name, addrs] : frontends) {
    FrontendConfig f;
    f.name = name;
    for (const std::string& a : addrs) f.listen.push_back(*SockAddr::parse(a));
    c.frontends.push_back(f);
  }
  return c;
}

TEST(SystemdSockets, PidMismatchMeansNoSocketsAndTheVariablesAreRemoved) {
  setenv("LISTEN_PID", std::to_string(getpid() + 1).c_str(), 1);
  setenv("LISTEN_FDS", "1", 1);
  setenv("LISTEN_FDNAMES", "x", 1);
  std::vector<std::string> errors;
  EXPECT_TRUE(takeSystemdSockets(errors).empty());
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(std::getenv("LISTEN_PID"), nullptr);
  EXPECT_EQ(std::getenv("LISTEN_FDS"), nullptr);
  EXPECT_EQ(std::getenv("LISTEN_FDNAMES"), nullptr);
}

TEST(SystemdSockets, GarbageCountIsAnError) {
  setenv("LISTEN_PID", std::to_string(getpid()).c_str(), 1);
  setenv("LISTEN_FDS", "two", 1);
  std::vector<std::string> errors;
  EXPECT_TRUE(takeSystemdSockets(errors).empty());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("LISTEN_FDS=\"two\" is not a socket count"), std::string::npos) << errors[0];
}

TEST(SystemdSockets, NoVariablesMeansNoSockets) {
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  std::vector<std::string> errors;
  EXPECT_TRUE(takeSystemdSockets(errors).empty());
  EXPECT_TRUE(errors.empty());
}

TEST(ListenFd, RefusesStdioClosedAndRepeatedDescriptors) {
  std::uint16_t port = 0;
  UniqueFd s = boundSocket(port);
  const int fd = s.release();  // takeListenFds owns it now
  std::vector<std::string> errors;
  auto got = takeListenFds({{"f", 1}, {"f", 987654}, {"f", fd}, {"g", fd}}, errors);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].fd.get(), fd);
  EXPECT_EQ(got[0].frontend, "f");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].find("1 is stdin, stdout or stderr"), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find("descriptor 987654 is not open"), std::string::npos) << errors[1];
  EXPECT_NE(errors[2].find("is given twice"), std::string::npos) << errors[2];
}

TEST(OpenListeners, UsesTheInheritedSocketForItsAddressAndBindsTheRest) {
  std::uint16_t port = 0;
  UniqueFd s = boundSocket(port);
  const int inherited_fd = s.get();
  std::uint16_t other = 0;
  { UniqueFd probe = boundSocket(other); }  // a port that was free a moment ago
  Config cfg = configListening({{"f", {"127.0.0.1:" + std::to_string(other), "127.0.0.1:" + std::to_string(port)}}});
  std::vector<InheritedSocket> in;
  in.push_back(InheritedSocket{std::move(s), "LISTEN_FDS socket 3", ""});
  std::vector<std::string> errors, notes;
  std::vector<UniqueFd> fds = openListeners(cfg, std::move(in), errors, notes);
  ASSERT_TRUE(errors.empty()) << errors[0];
  ASSERT_EQ(fds.size(), 2u);
  EXPECT_NE(fds[0].get(), inherited_fd);  // bound here
  EXPECT_EQ(fds[1].get(), inherited_fd);  // config order, the inherited one
  EXPECT_NE(fcntl(fds[1].get(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(fds[1].get(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(OpenListeners, InheritedSocketNoFrontendListsIsAnError) {
  std::uint16_t port = 0;
  UniqueFd s = boundSocket(port);
  std::uint16_t other = 0;
  { UniqueFd probe = boundSocket(other); }
  Config cfg = configListening({{"f", {"127.0.0.1:" + std::to_string(other)}}});
  std::vector<InheritedSocket> in;
  in.push_back(InheritedSocket{std::move(s), "LISTEN_FDS socket 3", ""});
  std::vector<std::string> errors, notes;
  openListeners(cfg, std::move(in), errors, notes);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "LISTEN_FDS socket 3 is bound to 127.0.0.1:" + std::to_string(port) +
                           ", which is no listen address of any frontend (or is passed twice) — add it to a "
                           "frontend's listen list, or stop passing it");
}

TEST(OpenListeners, ListenFdNamingAnotherFrontendIsAnError) {
  std::uint16_t port = 0;
  UniqueFd s = boundSocket(port);
  std::uint16_t other = 0;
  { UniqueFd probe = boundSocket(other); }
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  Config cfg = configListening({{"f", {addr}}, {"g", {"127.0.0.1:" + std::to_string(other)}}});
  std::vector<InheritedSocket> in;
  in.push_back(InheritedSocket{std::move(s), "--listen-fd g=7", "g"});
  std::vector<std::string> errors, notes;
  openListeners(cfg, std::move(in), errors, notes);
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0], "--listen-fd g=7 is bound to " + addr +
                           ", a listen address of frontend \"f\", not \"g\" — name the right frontend");
}

TEST(OpenListeners, StreamSocketThatDoesNotListenIsRefused) {
  std::uint16_t port = 0;
  UniqueFd s = boundSocket(port, SOCK_STREAM);
  Config cfg = configListening({{"f", {"127.0.0.1:" + std::to_string(port)}}});
  std::vector<InheritedSocket> in;
  in.push_back(InheritedSocket{std::move(s), "LISTEN_FDS socket 3", ""});
  std::vector<std::string> errors, notes;
  openListeners(cfg, std::move(in), errors, notes);
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors[0].find("LISTEN_FDS socket 3: a stream socket that is not listening"), std::string::npos)
      << errors[0];
}

TEST(OpenListeners, ListeningStreamSocketServesOnlyAFrontendWithTcp) {
  for (const bool tcp : {false, true}) {
    std::uint16_t port = 0;
    UniqueFd s = boundSocket(port, SOCK_STREAM);
    ASSERT_EQ(listen(s.get(), 4), 0);
    const int fd = s.get();
    Config cfg = configListening({{"f", {"127.0.0.1:" + std::to_string(port)}}});
    cfg.frontends[0].tcp = tcp;
    std::vector<InheritedSocket> in;
    in.push_back(InheritedSocket{std::move(s), "LISTEN_FDS socket 3", ""});
    std::vector<std::string> errors, notes;
    std::vector<UniqueFd> out = openListeners(cfg, std::move(in), errors, notes);
    if (!tcp) {
      ASSERT_EQ(errors.size(), 1u);
      EXPECT_NE(errors[0].find("(TCP) is bound to 127.0.0.1:" + std::to_string(port) +
                               ", which is no listen address of any frontend with tcp = true"),
                std::string::npos)
          << errors[0];
      continue;
    }
    ASSERT_TRUE(errors.empty()) << errors[0];
    // UDP first (bound here), then the TCP one handed in.
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[1].get(), fd);
    std::string why;
    const ListenEndpoint udp = boundEndpoint(out[0].get(), why);
    EXPECT_EQ(udp.transport, Transport::Udp);
    EXPECT_EQ(udp.addr.port(), port);
  }
}

TEST(Binder, DescribesHowTheWorkerEnded) {
  EXPECT_EQ(describeWorkerEnd(W_EXITCODE(3, 0)), "exited with status 3");
  EXPECT_EQ(describeWorkerEnd(W_EXITCODE(0, SIGSEGV) | WCOREFLAG),
            "was killed by SIGSEGV (Segmentation fault), core dumped");
  EXPECT_EQ(describeWorkerEnd(W_EXITCODE(0, SIGKILL)), "was killed by SIGKILL (Killed)");
  EXPECT_EQ(describeWorkerEnd(W_EXITCODE(0, SIGSYS)).rfind(
                "was killed by SIGSYS: the sandbox killed the worker: a system call outside the seccomp allowlist", 0),
            0u);
}

// A value from the environment is quoted short and printable: LISTEN_FDS of 1 MB once made a
// 1 MB error line (tests/fuzz/corpus/activation_env/).
TEST(SystemdSockets, AGarbageCountIsQuotedShortAndPrintable) {
  std::string error;
  const std::string huge(100000, '7');
  EXPECT_FALSE(systemdSocketCount("42", huge.c_str(), 42, error));
  EXPECT_LT(error.size(), 200u) << error;
  EXPECT_NE(error.find("LISTEN_FDS=\"" + std::string(32, '7') + "…\" is not a socket count"), std::string::npos)
      << error;
  error.clear();
  EXPECT_FALSE(systemdSocketCount("42", "1\n\x1b[31m", 42, error));
  EXPECT_NE(error.find("LISTEN_FDS=\"1\\x0a\\x1b[31m\""), std::string::npos) << error;
}

TEST(SystemdSockets, CountsOnlySocketsMeantForThisProcess) {
  std::string error;
  EXPECT_EQ(systemdSocketCount("42", "2", 42, error), 2);
  EXPECT_EQ(systemdSocketCount("41", "2", 42, error), 0);
  EXPECT_EQ(systemdSocketCount(nullptr, "2", 42, error), 0);
  EXPECT_EQ(systemdSocketCount("42", nullptr, 42, error), 0);
  EXPECT_FALSE(systemdSocketCount("42", "1025", 42, error));
  EXPECT_FALSE(systemdSocketCount("42", "-1", 42, error));
}

}  // namespace
}  // namespace udpx::privsep

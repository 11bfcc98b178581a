// StatusServer (src/status/status_server.cpp): the request line — "status", nothing at all (older
// clients), a command with the peer's credentials answered later — driven on a real event loop.
#include "status/status_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>

#include "status/status_socket.h"

namespace udpx {
namespace {

class StatusServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_.reset(event_base_new());
    endpoint_ = "@udpx-status-server-test-" + std::to_string(getpid()) + "-" + std::to_string(++serial_);
    std::string why;
    UniqueFd fd = listenStatus(endpoint_, why);
    ASSERT_TRUE(fd.valid()) << why;
    server_ = std::make_unique<StatusServer>(std::move(fd), endpoint_, [] { return std::string("{\"ok\": true}\n"); });
    server_->attach(base_.get());
  }

  UniqueFd connect() {
    std::string why;
    UniqueFd fd = connectStatus(endpoint_, why);
    EXPECT_TRUE(fd.valid()) << why;
    return fd;
  }

  // Runs the loop until the server closes `fd`'s connection (bounded); what it wrote.
  std::optional<std::string> answer(int fd, std::chrono::milliseconds limit = std::chrono::milliseconds(3000)) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      event_base_loop(base_.get(), EVLOOP_NONBLOCK);
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0) return out;
      if (n > 0) out.append(buf, static_cast<std::size_t>(n));
      if (n < 0) usleep(2000);
    }
    return std::nullopt;
  }

  void send(int fd, const std::string& s) { ASSERT_EQ(::send(fd, s.data(), s.size(), 0), static_cast<ssize_t>(s.size())); }

  static inline int serial_ = 0;
  EventBasePtr base_;
  std::string endpoint_;
  std::unique_ptr<StatusServer> server_;
};

TEST_F(StatusServerTest, StatusRequestGetsTheDocument) {
  UniqueFd fd = connect();
  send(fd.get(), "status\n");
  EXPECT_EQ(answer(fd.get()), "{\"ok\": true}\n");
}

TEST_F(StatusServerTest, AClientThatSendsNothingGetsTheDocumentAfterAShortWait) {
  UniqueFd fd = connect();
  EXPECT_EQ(answer(fd.get()), "{\"ok\": true}\n");
}

TEST_F(StatusServerTest, AClientThatClosesItsSendingSideGetsTheDocument) {
  UniqueFd fd = connect();
  ::shutdown(fd.get(), SHUT_WR);
  EXPECT_EQ(answer(fd.get(), std::chrono::milliseconds(150)), "{\"ok\": true}\n");
}

TEST_F(StatusServerTest, CommandWithoutHandlerIsAnsweredUnknown) {
  UniqueFd fd = connect();
  send(fd.get(), "reload\n");
  auto got = answer(fd.get());
  ASSERT_TRUE(got);
  EXPECT_NE(got->find("unknown request"), std::string::npos) << *got;
}

TEST_F(StatusServerTest, CommandGetsThePeersCredentialsAndIsAnsweredLater) {
  std::uint64_t id = 0;
  std::string request;
  StatusServer::Peer peer;
  server_->setCommandHandler([&](std::uint64_t i, const std::string& r, const StatusServer::Peer& p) {
    id = i;
    request = r;
    peer = p;
  });
  UniqueFd fd = connect();
  send(fd.get(), "reload\r\n");
  // Not answered while the handler owes the answer.
  EXPECT_EQ(answer(fd.get(), std::chrono::milliseconds(300)), std::nullopt);
  ASSERT_NE(id, 0u);
  EXPECT_EQ(request, "reload");
  EXPECT_TRUE(peer.known);
  EXPECT_EQ(peer.uid, getuid());
  EXPECT_EQ(peer.pid, getpid());
  EXPECT_TRUE(server_->reply(id, "done\n"));
  EXPECT_EQ(answer(fd.get()), "done\n");
  EXPECT_FALSE(server_->reply(id, "again\n"));  // the connection is gone
}

TEST_F(StatusServerTest, HandlerMayAnswerAtOnce) {
  server_->setCommandHandler([&](std::uint64_t i, const std::string&, const StatusServer::Peer&) {
    server_->reply(i, "denied\n");
  });
  UniqueFd fd = connect();
  send(fd.get(), "reload\n");
  EXPECT_EQ(answer(fd.get()), "denied\n");
}

}  // namespace
}  // namespace udpx

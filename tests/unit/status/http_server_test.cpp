// HttpServer (src/status/http_server.cpp): GET and HEAD on known paths, 404, 405, 500, and bind
// errors with a hint. The test drives the event loop itself; the client is a plain socket.
#include "status/http_server.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/event_ptr.h"
#include "net/unique_fd.h"

namespace udpx {
namespace {

class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest() : base_(event_base_new()) {
    std::vector<HttpServer::Route> routes;
    routes.push_back({"/metrics", "text/plain; version=0.0.4; charset=utf-8", [this] {
                        ++calls_;
                        return std::string("a_metric 1\n");
                      }});
    routes.push_back({"/broken", "text/plain", []() -> std::string { throw std::bad_alloc(); }});
    std::string error;
    server_ = HttpServer::open(base_.get(), *SockAddr::parseIp("127.0.0.1", 0), std::move(routes), error);
    if (!server_) throw std::runtime_error(error);
  }

  // Sends `request` on a new connection and returns everything the server sent until it
  // closed the connection, running the loop meanwhile.
  std::string exchange(const std::string& request) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const SockAddr& a = server_->address();
    if (connect(fd.get(), a.get(), a.length()) != 0) return "connect failed";
    if (send(fd.get(), request.data(), request.size(), 0) != static_cast<ssize_t>(request.size())) return "send failed";
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      event_base_loop(base_.get(), EVLOOP_NONBLOCK);
      pollfd p{fd.get(), POLLIN, 0};
      if (poll(&p, 1, 10) == 1) {
        char buf[4096];
        const ssize_t n = recv(fd.get(), buf, sizeof buf, 0);
        if (n <= 0) return out;
        out.append(buf, static_cast<std::size_t>(n));
      }
    }
    return out + "\n(timed out)";
  }

  static std::string get(const std::string& method, const std::string& path) {
    return method + " " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  }

  static bool has(const std::string& response, const std::string& part) {
    return response.find(part) != std::string::npos;
  }

  EventBasePtr base_;
  std::unique_ptr<HttpServer> server_;
  int calls_ = 0;
};

TEST_F(HttpServerTest, ListensOnTheActualPortWhenAskedForPortZero) {
  EXPECT_NE(server_->address().port(), 0);
  EXPECT_EQ(server_->address().ipString(), "127.0.0.1");
}

TEST_F(HttpServerTest, GetReturnsTheBodyWithItsContentType) {
  const std::string r = exchange(get("GET", "/metrics"));
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_TRUE(has(r, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n")) << r;
  EXPECT_TRUE(has(r, "Content-Length: 11\r\n")) << r;
  EXPECT_EQ(r.substr(r.size() - 13), "\r\na_metric 1\n");
  EXPECT_EQ(calls_, 1);
}

TEST_F(HttpServerTest, QueryStringIsIgnored) {
  const std::string r = exchange(get("GET", "/metrics?name=x"));
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
}

TEST_F(HttpServerTest, HeadAnnouncesTheLengthWithoutTheBody) {
  const std::string r = exchange(get("HEAD", "/metrics"));
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_TRUE(has(r, "Content-Length: 11\r\n")) << r;
  EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n") << "no body after the headers: " << r;
}

TEST_F(HttpServerTest, UnknownPathIs404NamingTheKnownOnes) {
  const std::string r = exchange(get("GET", "/nothing"));
  EXPECT_EQ(r.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << r;
  EXPECT_TRUE(has(r, "no such path /nothing; try /metrics, /broken")) << r;
  EXPECT_EQ(calls_, 0);
}

TEST_F(HttpServerTest, OtherMethodsAre405WithAllow) {
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
    const std::string r = exchange(std::string(method) + " /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                                   "Content-Length: 3\r\n\r\nx=1");
    EXPECT_EQ(r.rfind("HTTP/1.1 405 Method Not Allowed\r\n", 0), 0u) << method << ": " << r;
    EXPECT_TRUE(has(r, "Allow: GET, HEAD\r\n")) << r;
  }
  EXPECT_EQ(calls_, 0);
}

TEST_F(HttpServerTest, FailingHandlerIs500AndTheServerGoesOn) {
  EXPECT_EQ(exchange(get("GET", "/broken")).rfind("HTTP/1.1 500 ", 0), 0u);
  EXPECT_EQ(exchange(get("GET", "/metrics")).rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
}

TEST_F(HttpServerTest, PortInUseIsAnErrorWithAHint) {
  std::string error;
  auto second = HttpServer::open(base_.get(), server_->address(), {}, error);
  EXPECT_EQ(second, nullptr);
  const std::string port = std::to_string(server_->address().port());
  EXPECT_EQ(error, "Address already in use — another process already listens on this port (see: ss -tlpn 'sport = :" +
                       port + "'); stop it or choose another port for global.metrics");
}

// A server with small limits, and clients that hold connections open.
class HttpServerLimitsTest : public ::testing::Test {
 protected:
  HttpServerLimitsTest() : base_(event_base_new()) {
    std::vector<HttpServer::Route> routes;
    routes.push_back({"/metrics", "text/plain", [] { return std::string("a_metric 1\n"); }});
    HttpLimits limits;
    limits.max_connections = 6;
    limits.max_per_peer = 3;
    limits.request_timeout = std::chrono::milliseconds(200);
    std::string error;
    server_ = HttpServer::open(base_.get(), *SockAddr::parseIp("127.0.0.1", 0), std::move(routes), error, limits);
    if (!server_) throw std::runtime_error(error);
  }
  UniqueFd connectFrom(const char* source) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const SockAddr from = *SockAddr::parseIp(source, 0);
    if (bind(fd.get(), from.get(), from.length()) != 0) return {};
    const SockAddr& a = server_->address();
    if (connect(fd.get(), a.get(), a.length()) != 0) return {};
    return fd;
  }
  void runFor(std::chrono::milliseconds d) {
    const auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
      event_base_loop(base_.get(), EVLOOP_NONBLOCK);
      poll(nullptr, 0, 5);
    }
  }
  // True when the server closed (or answered and closed) the connection.
  static bool closedByServer(int fd) {
    char buf[512];
    while (true) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 0) != 1) return false;
      const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return true;
    }
  }
  EventBasePtr base_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerLimitsTest, ConnectionsBeyondThePerPeerCapAreRefused) {
  std::vector<UniqueFd> held;
  for (int i = 0; i < 5; ++i) held.push_back(connectFrom("127.0.0.1"));
  runFor(std::chrono::milliseconds(50));
  EXPECT_EQ(server_->connections(), 3u);
  // Another peer still gets in, up to the total.
  std::vector<UniqueFd> other;
  for (int i = 0; i < 4; ++i) other.push_back(connectFrom("127.0.0.2"));
  runFor(std::chrono::milliseconds(50));
  EXPECT_EQ(server_->connections(), 6u);
}

TEST_F(HttpServerLimitsTest, HeadersDrippedSlowerThanTheDeadlineAreCut) {
  UniqueFd slow = connectFrom("127.0.0.1");
  ASSERT_TRUE(slow.valid());
  ASSERT_GT(send(slow.get(), "GET /metrics HTTP/1.1\r\n", 23, 0), 0);
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {  // one header line every 50 ms, for at most 2 s
    send(slow.get(), "X-a: b\r\n", 8, MSG_NOSIGNAL);
    runFor(std::chrono::milliseconds(50));
    closed = closedByServer(slow.get());
  }
  EXPECT_TRUE(closed);
  EXPECT_EQ(server_->connections(), 0u);
}

TEST(HttpRequestState, HeadersEndAtABlankLineOrAreTooLargePast8KiB) {
  EXPECT_EQ(httpRequestState("GET / HTTP/1.1\r\nHost: x\r\n"), HttpRequestState::Incomplete);
  EXPECT_EQ(httpRequestState("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), HttpRequestState::Complete);
  EXPECT_EQ(httpRequestState("GET / HTTP/1.0\n\n"), HttpRequestState::Complete);
  EXPECT_EQ(httpRequestState(std::string(8192, 'a')), HttpRequestState::Incomplete);
  EXPECT_EQ(httpRequestState(std::string(8193, 'a')), HttpRequestState::TooLarge);
  EXPECT_EQ(httpRequestState(std::string(9000, 'a') + "\n\n"), HttpRequestState::Complete);
}

}  // namespace
}  // namespace udpx

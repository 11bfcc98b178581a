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

}  // namespace
}  // namespace udpx

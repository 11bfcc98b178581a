// HttpServer: a small read-only HTTP/1.1 endpoint on the proxy's own event loop (no thread),
// answering GET and HEAD on fixed paths from callbacks, one request per connection
// ("Connection: close"). Serves /metrics and /status.
//
// NOTE: written on plain libevent events rather than evhttp: evhttp (libevent 2.1) has no hook
// at accept time, so it can neither cap connections per peer nor bound the time a request's
// headers take; a slowloris client sending one header line every few seconds held a connection
// (and a descriptor) forever.
#pragma once

#include <event2/event.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.h"
#include "net/accept_backoff.h"
#include "net/address.h"
#include "net/event_ptr.h"
#include "net/unique_fd.h"

namespace udpx {

// What one client may hold. A connection over a cap is answered 503 and closed at once.
struct HttpLimits {
  std::size_t max_connections = 64;           // open at once, all peers together
  std::size_t max_per_peer = 8;               // open at once from one IP address
  std::chrono::milliseconds request_timeout{10000};  // from accept to the end of the headers
  std::chrono::milliseconds reply_timeout{30000};    // to send the answer and see the client close
};

// What the bytes read so far on a connection are: the request's headers end ("\r\n\r\n" or
// "\n\n") — Complete, whatever their size; no end yet within 8 KiB — Incomplete; else TooLarge
// (answered 431).
enum class HttpRequestState : std::uint8_t { Incomplete, Complete, TooLarge };
HttpRequestState httpRequestState(std::string_view in) noexcept;

class HttpServer {
 public:
  struct Route {
    std::string path;                   // exact path, e.g. "/metrics"; a query string is ignored
    std::string content_type;
    std::function<std::string()> body;  // called once per GET or HEAD
  };

  using Limits = HttpLimits;

  // Listens on `addr` (TCP) and serves `routes`; 404 for any other path, 405 for methods other
  // than GET and HEAD. On failure returns nullptr and sets `error` to "strerror — hint".
  static std::unique_ptr<HttpServer> open(event_base* base, const SockAddr& addr, std::vector<Route> routes,
                                          std::string& error, Limits limits = Limits{});
  // Use open(); the key keeps the constructor to it.
  class Key {
    friend class HttpServer;
    Key() = default;
  };
  HttpServer(Key, SockAddr addr, std::vector<Route> routes, Limits limits)
      : addr_(addr), routes_(std::move(routes)), limits_(limits) {}
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The address it listens on (with the actual port if port 0 was asked for).
  const SockAddr& address() const noexcept { return addr_; }
  // Connections open now (tests).
  std::size_t connections() const noexcept { return conns_.size(); }

  // The whole answer (status line, headers, body) to a complete request: the route's body for
  // GET, its headers only for HEAD, 400, 404, 405 or 500 otherwise (tests/fuzz/http_fuzz.cpp).
  static std::string answer(const std::vector<Route>& routes, const std::string& request);

 private:
  enum class Phase { Reading, Writing, Draining };
  struct Conn {
    HttpServer* owner;
    UniqueFd fd;
    std::string peer;  // the peer's address bytes (no port): what the per-peer cap counts
    std::string in, out;
    std::size_t sent = 0;
    Phase phase = Phase::Reading;
    EventPtr io, timer;
  };

  static void onAccept(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onIo(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onTimeout(evutil_socket_t fd, short what, void* arg) noexcept;
  void acceptAll() noexcept;
  void admit(UniqueFd fd, const sockaddr_storage& peer) noexcept;
  void readRequest(Conn& c) noexcept;
  void respond(Conn& c, const std::string& head_and_body) noexcept;
  void writeReply(Conn& c) noexcept;
  void drain(Conn& c) noexcept;
  void arm(Conn& c, short what, std::chrono::milliseconds timeout) noexcept;
  void close(Conn& c) noexcept;

  SockAddr addr_;
  std::vector<Route> routes_;
  Limits limits_;
  event_base* base_ = nullptr;
  UniqueFd fd_;
  EventPtr accept_ev_;
  std::list<Conn> conns_;
  std::unique_ptr<AcceptBackoff> backoff_;
  RateLimit refused_log_;
};

}  // namespace udpx

// HttpServer: a small read-only HTTP/1.1 endpoint on the proxy's own event loop (libevent's
// evhttp; no thread), answering GET and HEAD on fixed paths from callbacks. Serves /metrics and
// /status.
#pragma once

#include <event2/event.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/accept_backoff.h"
#include "net/address.h"

struct evhttp;
struct evhttp_request;
struct evconnlistener;

namespace udpx {

class HttpServer {
 public:
  struct Route {
    std::string path;                   // exact path, e.g. "/metrics"; a query string is ignored
    std::string content_type;
    std::function<std::string()> body;  // called once per GET or HEAD
  };

  // Listens on `addr` (TCP) and serves `routes`; 404 for any other path, 405 for methods other
  // than GET and HEAD. On failure returns nullptr and sets `error` to "strerror — hint".
  static std::unique_ptr<HttpServer> open(event_base* base, const SockAddr& addr, std::vector<Route> routes,
                                          std::string& error);
  // Use open(); the key keeps the constructor to it.
  class Key {
    friend class HttpServer;
    Key() = default;
  };
  HttpServer(Key, SockAddr addr, std::vector<Route> routes) : addr_(addr), routes_(std::move(routes)) {}
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The address it listens on (with the actual port if port 0 was asked for).
  const SockAddr& address() const noexcept { return addr_; }

 private:
  struct EvhttpDeleter {
    void operator()(evhttp* h) const noexcept;
  };

  static void onRequest(evhttp_request* req, void* arg) noexcept;
  void handle(evhttp_request* req);
  // Out of descriptors (or memory), the listener pauses instead of spinning (AcceptBackoff).
  void watchAcceptErrors(event_base* base, evconnlistener* listener);
  static void onAcceptError(evconnlistener* listener, void* arg) noexcept;
  static HttpServer* current_;

  SockAddr addr_;
  std::vector<Route> routes_;
  std::unique_ptr<evhttp, EvhttpDeleter> http_;
  evconnlistener* listener_ = nullptr;  // evhttp's, freed with it
  std::unique_ptr<AcceptBackoff> backoff_;
};

}  // namespace udpx

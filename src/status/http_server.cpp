// HttpServer: the listening socket, evhttp's limits, and the request dispatch.
#include "status/http_server.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

#include "net/accept_backoff.h"
#include "net/listen_socket.h"
#include "net/unique_fd.h"

namespace udpx {
namespace {

// Requests are a line and a few headers; anything bigger is not a scraper.
constexpr ev_ssize_t kMaxHeaderBytes = 8192;
constexpr ev_ssize_t kMaxBodyBytes = 4096;
// A client that stalls (or a connection left open) is cut after this long.
constexpr int kTimeoutSeconds = 30;
constexpr int kBacklog = 16;

// What to change when the metrics endpoint cannot listen, after bindError's hint.
constexpr BindAdvice kMetricsAdvice{"; stop it or choose another port for global.metrics", "; use e.g. 9123",
                                    "; use 127.0.0.1 or one of this host's addresses"};

void sendText(evhttp_request* req, int code, const char* reason, const std::string& text) {
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Content-Type", "text/plain; charset=utf-8");
  evbuffer* buf = evbuffer_new();
  if (buf == nullptr) {
    evhttp_send_error(req, HTTP_INTERNAL, nullptr);
    return;
  }
  if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) evbuffer_add(buf, text.data(), text.size());
  evhttp_send_reply(req, code, reason, buf);
  evbuffer_free(buf);
}

}  // namespace

void HttpServer::EvhttpDeleter::operator()(evhttp* h) const noexcept { evhttp_free(h); }

std::unique_ptr<HttpServer> HttpServer::open(event_base* base, const SockAddr& addr, std::vector<Route> routes,
                                             std::string& error) {
  UniqueFd fd(socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    error = bindError(errno, addr, Transport::Tcp, kMetricsAdvice);
    return nullptr;
  }
  const int one = 1;
  // A restarted udpx binds again at once, although the old connections linger in TIME_WAIT.
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (addr.family() == AF_INET6) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd.get(), addr.get(), addr.length()) != 0 || listen(fd.get(), kBacklog) != 0) {
    error = bindError(errno, addr, Transport::Tcp, kMetricsAdvice);
    return nullptr;
  }

  // The bound address, with the port the kernel chose when asked for port 0 (tests do).
  sockaddr_in6 bound{};
  socklen_t bound_len = sizeof bound;
  SockAddr actual = addr;
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &bound_len) == 0) {
    actual = SockAddr(reinterpret_cast<const sockaddr*>(&bound), bound_len);
  }
  auto server = std::make_unique<HttpServer>(Key{}, actual, std::move(routes));
  server->http_.reset(evhttp_new(base));
  if (!server->http_) {
    error = "cannot create the HTTP server (out of memory?)";
    return nullptr;
  }
  evhttp* h = server->http_.get();
  // Every method evhttp knows reaches onRequest, which answers 405 itself: evhttp's own answer
  // to a method outside this set would be 501 Not Implemented.
  evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                    EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                    EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
  evhttp_set_max_headers_size(h, kMaxHeaderBytes);
  evhttp_set_max_body_size(h, kMaxBodyBytes);
  evhttp_set_timeout(h, kTimeoutSeconds);
  evhttp_set_gencb(h, &HttpServer::onRequest, server.get());
  // NOTE: evhttp's events keep the loop's default priority, the one the data path's sockets
  // have (see Runtime): a scrape is short, bounded work, and at a lower priority it would starve
  // exactly when the proxy is busiest, which is when its numbers matter most.
  evhttp_bound_socket* bound_socket = evhttp_accept_socket_with_handle(h, fd.get());
  if (bound_socket == nullptr) {
    error = "cannot watch the listening socket";
    return nullptr;
  }
  fd.release();  // evhttp owns it now and closes it in evhttp_free
  server->watchAcceptErrors(base, evhttp_bound_socket_get_listener(bound_socket));
  return server;
}

HttpServer::~HttpServer() {
  if (current_ == this) current_ = nullptr;
}

// NOTE: evconnlistener calls its error callback for every accept() failure it does not retry
// itself; without one it logs "Error from accept() call" and is woken again at once by the
// still-pending connection: out of descriptors, that spins the loop and floods the log.
void HttpServer::watchAcceptErrors(event_base* base, evconnlistener* listener) {
  backoff_ = std::make_unique<AcceptBackoff>(
      base, "metrics endpoint", [listener] { evconnlistener_disable(listener); },
      [listener] { evconnlistener_enable(listener); });
  evconnlistener_set_error_cb(listener, &HttpServer::onAcceptError);
  listener_ = listener;
  // NOTE: the error callback gets the listener's argument, which is evhttp's: the server is
  // found through this pointer (one HttpServer per process; the latest one opened).
  current_ = this;
}

HttpServer* HttpServer::current_ = nullptr;

void HttpServer::onAcceptError(evconnlistener* listener, void*) noexcept {
  const int err = EVUTIL_SOCKET_ERROR();
  HttpServer* self = current_;
  if (self == nullptr || self->listener_ != listener) return;
  // Any other failure pauses too: an accept that fails once fails again at the next wake-up.
  self->backoff_->pauseAfter(err);
}

void HttpServer::onRequest(evhttp_request* req, void* arg) noexcept {
  try {
    static_cast<HttpServer*>(arg)->handle(req);
  } catch (...) {
    // Only allocation can fail here; the scraper retries at its next interval.
    evhttp_send_error(req, HTTP_INTERNAL, nullptr);
  }
}

void HttpServer::handle(evhttp_request* req) {
  const evhttp_uri* uri = evhttp_request_get_evhttp_uri(req);
  const char* raw_path = uri != nullptr ? evhttp_uri_get_path(uri) : nullptr;
  const std::string path = raw_path != nullptr && raw_path[0] != '\0' ? raw_path : "/";
  const Route* route = nullptr;
  for (const Route& r : routes_) {
    if (r.path == path) route = &r;
  }
  if (route == nullptr) {
    std::string paths;
    for (const Route& r : routes_) paths += (paths.empty() ? "" : ", ") + r.path;
    sendText(req, HTTP_NOTFOUND, "Not Found", "udpx: no such path " + path + "; try " + paths + "\n");
    return;
  }
  const evhttp_cmd_type method = evhttp_request_get_command(req);
  if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
    sendText(req, 405, "Method Not Allowed", "udpx: " + path + " is read-only: use GET or HEAD\n");
    return;
  }
  const std::string body = route->body();
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Content-Type", route->content_type.c_str());
  evhttp_add_header(headers, "Cache-Control", "no-store");
  evbuffer* buf = evbuffer_new();
  if (buf == nullptr) {
    evhttp_send_error(req, HTTP_INTERNAL, nullptr);
    return;
  }
  if (method == EVHTTP_REQ_HEAD) {
    // NOTE: evhttp sets Content-Length only for responses with a body; HEAD announces the
    // length GET would send.
    evhttp_add_header(headers, "Content-Length", std::to_string(body.size()).c_str());
  } else {
    evbuffer_add(buf, body.data(), body.size());
  }
  evhttp_send_reply(req, HTTP_OK, "OK", buf);
  evbuffer_free(buf);
}

}  // namespace udpx

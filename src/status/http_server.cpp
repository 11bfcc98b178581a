// HttpServer: the listening socket, the connection caps and deadlines, request parsing and the
// answer.
#include "status/http_server.h"

#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net/listen_socket.h"

namespace udpx {
namespace {

// Requests are a line and a few headers; anything bigger is not a scraper.
constexpr std::size_t kMaxHeaderBytes = 8192;
constexpr int kBacklog = 16;
// Accepted per wake-up at most: the rest wait for the next iteration, after the data path.
constexpr int kAcceptBatch = 16;

// What to change when the metrics endpoint cannot listen, after bindError's hint.
constexpr BindAdvice kMetricsAdvice{"; stop it or choose another port for global.metrics", "; use e.g. 9123",
                                    "; use 127.0.0.1 or one of this host's addresses"};

const char kBusy[] =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 48\r\n"
    "Retry-After: 5\r\nConnection: close\r\n\r\nudpx: too many connections from you, try later\n";

std::string peerKey(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss).sin_addr;
    return std::string(reinterpret_cast<const char*>(&a), sizeof a);
  }
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr;
    return std::string(reinterpret_cast<const char*>(&a), sizeof a);
  }
  return {};
}

std::string reply(int code, const char* reason, const std::string& content_type, const std::string& body,
                  bool head, const std::string& extra_headers = "") {
  std::string r = "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + content_type +
                  "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" + extra_headers +
                  "Connection: close\r\n\r\n";
  if (!head) r += body;
  return r;
}

std::string text(int code, const char* reason, const std::string& body, bool head = false,
                 const std::string& extra = "") {
  return reply(code, reason, "text/plain; charset=utf-8", body, head, extra);
}

}  // namespace

std::unique_ptr<HttpServer> HttpServer::open(event_base* base, const SockAddr& addr, std::vector<Route> routes,
                                             std::string& error, Limits limits) {
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
  auto server = std::make_unique<HttpServer>(Key{}, actual, std::move(routes), limits);
  HttpServer* s = server.get();
  s->base_ = base;
  s->fd_ = std::move(fd);
  // NOTE: the listener keeps the loop's default priority, the one the data path's sockets have
  // (see Runtime): a scrape is short, bounded work, and at a lower priority it would starve
  // exactly when the proxy is busiest, which is when its numbers matter most.
  s->accept_ev_.reset(event_new(base, s->fd_.get(), EV_READ | EV_PERSIST, &HttpServer::onAccept, s));
  if (!s->accept_ev_ || event_add(s->accept_ev_.get(), nullptr) != 0) {
    error = "cannot watch the listening socket";
    return nullptr;
  }
  s->backoff_ = std::make_unique<AcceptBackoff>(
      base, "metrics endpoint", [s] { event_del(s->accept_ev_.get()); },
      [s] { event_add(s->accept_ev_.get(), nullptr); });
  return server;
}

HttpServer::~HttpServer() {
  conns_.clear();
  accept_ev_.reset();
}

void HttpServer::onAccept(evutil_socket_t, short, void* arg) noexcept { static_cast<HttpServer*>(arg)->acceptAll(); }

void HttpServer::acceptAll() noexcept {
  for (int i = 0; i < kAcceptBatch; ++i) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    UniqueFd fd(accept4(fd_.get(), reinterpret_cast<sockaddr*>(&peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) {
      const int err = errno;
      // Out of descriptors or memory, the pending connection would wake the loop again at once.
      if (AcceptBackoff::isShortage(err)) backoff_->pauseAfter(err);
      return;
    }
    admit(std::move(fd), peer);
  }
}

void HttpServer::admit(UniqueFd fd, const sockaddr_storage& peer) noexcept {
  std::string key = peerKey(peer);
  std::size_t same = 0;
  for (const Conn& c : conns_) same += c.peer == key ? 1 : 0;
  if (conns_.size() >= limits_.max_connections || same >= limits_.max_per_peer) {
    const ssize_t ignored = ::send(fd.get(), kBusy, sizeof kBusy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)ignored;
    if (refused_log_.allow(Clock::now())) {
      const SockAddr who(reinterpret_cast<const sockaddr*>(&peer), sizeof peer);
      LOG_WARN("metrics endpoint: refused a connection from %s: %zu open from there, %zu in all (at most %zu and "
               "%zu)%s", who.toString().c_str(), same, conns_.size(), limits_.max_per_peer,
               limits_.max_connections, refused_log_.suffix());
    }
    return;
  }
  try {
    conns_.push_back(Conn{this, std::move(fd), std::move(key), {}, {}, 0, Phase::Reading, nullptr, nullptr});
  } catch (...) {
    return;
  }
  Conn& c = conns_.back();
  c.timer.reset(evtimer_new(base_, &HttpServer::onTimeout, &c));
  if (!c.timer) {
    close(c);
    return;
  }
  arm(c, EV_READ, limits_.request_timeout);
}

void HttpServer::arm(Conn& c, short what, std::chrono::milliseconds timeout) noexcept {
  c.io.reset(event_new(base_, c.fd.get(), what | EV_PERSIST, &HttpServer::onIo, &c));
  const timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  if (!c.io || event_add(c.io.get(), nullptr) != 0 || evtimer_add(c.timer.get(), &tv) != 0) close(c);
}

// The deadline of the current phase passed: a slow client, or one that never finishes.
void HttpServer::onTimeout(evutil_socket_t, short, void* arg) noexcept {
  auto* c = static_cast<Conn*>(arg);
  c->owner->close(*c);
}

void HttpServer::onIo(evutil_socket_t, short, void* arg) noexcept {
  auto* c = static_cast<Conn*>(arg);
  HttpServer* self = c->owner;
  switch (c->phase) {
    case Phase::Reading: self->readRequest(*c); break;
    case Phase::Writing: self->writeReply(*c); break;
    case Phase::Draining: self->drain(*c); break;
  }
}

void HttpServer::readRequest(Conn& c) noexcept {
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(c.fd.get(), buf, sizeof buf);
    if (n == 0) return close(c);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return close(c);
    }
    try {
      c.in.append(buf, static_cast<std::size_t>(n));
    } catch (...) {
      return close(c);
    }
    if (httpRequestState(c.in) != HttpRequestState::Incomplete) break;
  }
  const HttpRequestState state = httpRequestState(c.in);
  if (state == HttpRequestState::Incomplete) return;  // more to come, before the deadline
  std::string r;
  try {
    r = state == HttpRequestState::Complete
            ? answer(routes_, c.in)
            : text(431, "Request Header Fields Too Large", "udpx: request headers too large\n");
  } catch (...) {
    // Only allocation can fail here; the scraper retries at its next interval.
    r = text(500, "Internal Server Error", "udpx: out of memory\n");
  }
  respond(c, r);
}

void HttpServer::respond(Conn& c, const std::string& response) noexcept {
  try {
    c.out = response;
  } catch (...) {
    return close(c);
  }
  c.in.clear();
  c.phase = Phase::Writing;
  evtimer_del(c.timer.get());
  arm(c, EV_WRITE, limits_.reply_timeout);
}

void HttpServer::writeReply(Conn& c) noexcept {
  while (c.sent < c.out.size()) {
    const ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      return close(c);
    }
    c.sent += static_cast<std::size_t>(n);
  }
  // NOTE: closing with unread request bytes (a body) would reset the connection, and the client
  // could lose the answer: end the sending side and read until the client closes (nginx's
  // lingering close), within what is left of the deadline.
  ::shutdown(c.fd.get(), SHUT_WR);
  c.phase = Phase::Draining;
  c.io.reset(event_new(base_, c.fd.get(), EV_READ | EV_PERSIST, &HttpServer::onIo, &c));
  if (!c.io || event_add(c.io.get(), nullptr) != 0) close(c);
}

void HttpServer::drain(Conn& c) noexcept {
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(c.fd.get(), buf, sizeof buf);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    return close(c);
  }
}

void HttpServer::close(Conn& c) noexcept {
  for (auto it = conns_.begin(); it != conns_.end(); ++it) {
    if (&*it == &c) {
      conns_.erase(it);
      return;
    }
  }
}

HttpRequestState httpRequestState(std::string_view in) noexcept {
  if (in.find("\r\n\r\n") != std::string_view::npos || in.find("\n\n") != std::string_view::npos) {
    return HttpRequestState::Complete;
  }
  return in.size() > kMaxHeaderBytes ? HttpRequestState::TooLarge : HttpRequestState::Incomplete;
}

std::string HttpServer::answer(const std::vector<Route>& routes, const std::string& request) {
  const std::size_t eol = request.find('\n');
  std::string line = request.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos || line.compare(sp2 + 1, 5, "HTTP/") != 0) {
    return text(400, "Bad Request", "udpx: not an HTTP request\n");
  }
  const std::string method = line.substr(0, sp1);
  std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  // Absolute form (a proxy's "http://host/path"): the path only.
  if (const std::size_t scheme = target.find("://"); scheme != std::string::npos && target[0] != '/') {
    const std::size_t slash = target.find('/', scheme + 3);
    target = slash == std::string::npos ? "/" : target.substr(slash);
  }
  std::string path = target.substr(0, target.find_first_of("?#"));
  if (path.empty()) path = "/";

  const bool head = method == "HEAD";
  const Route* route = nullptr;
  for (const Route& r : routes) {
    if (r.path == path) route = &r;
  }
  if (route == nullptr) {
    std::string paths;
    for (const Route& r : routes) paths += (paths.empty() ? "" : ", ") + r.path;
    return text(404, "Not Found", "udpx: no such path " + path + "; try " + paths + "\n", head);
  }
  if (method != "GET" && !head) {
    return text(405, "Method Not Allowed", "udpx: " + path + " is read-only: use GET or HEAD\n", false,
                "Allow: GET, HEAD\r\n");
  }
  std::string body;
  try {
    body = route->body();
  } catch (...) {
    return text(500, "Internal Server Error", "udpx: could not build " + path + "\n", head);
  }
  return reply(200, "OK", route->content_type, body, head, "Cache-Control: no-store\r\n");
}

}  // namespace udpx

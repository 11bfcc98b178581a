// The status socket's accept loop, the request line, and non-blocking writes.
#include "status/status_server.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace udpx {
namespace {

// Readers get the whole document or nothing: a client that does not read within this long,
// or too many at once, are dropped rather than let grow memory.
constexpr std::size_t kMaxConnections = 32;
// Per peer user (SO_PEERCRED): one local user cannot take every slot.
constexpr std::size_t kMaxConnectionsPerUser = 8;
constexpr timeval kWriteTimeout{5, 0};
// How long a client may take to send its request line before it gets the status document: older
// clients send nothing. Requests are one short word; a longer line is refused.
constexpr timeval kRequestWait{0, 200000};
constexpr std::size_t kMaxRequest = 64;
// How long a command (a reload) may take before its client is given up on.
constexpr timeval kCommandTimeout{60, 0};
// Connection ids, unique across the servers of the process (one retired by a reload may still
// owe an answer).
std::uint64_t next_conn_id = 1;

std::string firstLine(const std::string& data) {
  std::string line = data.substr(0, data.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

}  // namespace

StatusServer::StatusServer(UniqueFd fd, std::string endpoint, Render render)
    : fd_(std::move(fd)), endpoint_(std::move(endpoint)), render_(std::move(render)) {}

StatusServer::~StatusServer() {
  conns_.clear();
  accept_ev_.reset();
  // NOTE: a socket file is not removed here: the sandbox allows no unlink. The next start
  // replaces it (listenStatus), and `udpx status` meanwhile says "Connection refused".
}

void StatusServer::stopListening() noexcept {
  backoff_.reset();
  accept_ev_.reset();
  spare_.reset();
  fd_.reset();
}

void StatusServer::attach(event_base* base) {
  base_ = base;
  accept_ev_.reset(event_new(base, fd_.get(), EV_READ | EV_PERSIST, &StatusServer::onAccept, this));
  if (!accept_ev_ || event_add(accept_ev_.get(), nullptr) != 0) throw std::runtime_error("cannot watch the status socket");
  backoff_ = std::make_unique<AcceptBackoff>(
      base, "status socket", [this] { event_del(accept_ev_.get()); },
      [this] { event_add(accept_ev_.get(), nullptr); });
  keepSpare();
}

// A descriptor held in reserve (a duplicate of the listening socket): out of descriptors, it is
// given up for one status connection, so `udpx status` still answers when sessions took every
// other one. Taken back as soon as that connection closes.
void StatusServer::keepSpare() noexcept {
  if (!spare_.valid() && fd_.valid()) spare_ = UniqueFd(fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
}

// accept4 that, out of descriptors, uses the spare once, else pauses the listener.
UniqueFd StatusServer::acceptOne() noexcept {
  UniqueFd fd(accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (fd.valid()) return fd;
  const int err = errno;
  if (!AcceptBackoff::isShortage(err)) return fd;
  if (spare_.valid()) {
    spare_.reset();
    fd = UniqueFd(accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (fd.valid()) return fd;
  }
  backoff_->pauseAfter(err);
  return fd;
}

// Refuses a peer user that already holds kMaxConnectionsPerUser connections.
bool StatusServer::peerMayConnect(int fd, std::int64_t& uid) const noexcept {
  ucred cred{};
  socklen_t len = sizeof cred;
  uid = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 ? static_cast<std::int64_t>(cred.uid) : -1;
  std::size_t same = 0;
  for (const Conn& c : conns_) same += c.uid == uid ? 1 : 0;
  return same < kMaxConnectionsPerUser;
}

void StatusServer::onAccept(evutil_socket_t, short, void* arg) noexcept { static_cast<StatusServer*>(arg)->accept(); }

void StatusServer::accept() noexcept {
  UniqueFd fd = acceptOne();
  if (!fd.valid()) return;
  std::int64_t uid = -1;
  if (conns_.size() >= kMaxConnections || !peerMayConnect(fd.get(), uid)) {
    fd.reset();
    keepSpare();
    return;
  }
  try {
    conns_.push_back(Conn{this, std::move(fd), {}, 0, nullptr, next_conn_id++, {}, false, uid});
  } catch (...) {
    return;
  }
  Conn& c = conns_.back();
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(c.fd.get(), SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && len == sizeof cred) {
    c.peer = Peer{true, cred.pid, cred.uid, cred.gid};
  }
  c.ev.reset(event_new(base_, c.fd.get(), EV_READ | EV_PERSIST, &StatusServer::onReadable, &c));
  if (!c.ev || event_add(c.ev.get(), &kRequestWait) != 0) close(c);
}

void StatusServer::onReadable(evutil_socket_t, short what, void* arg) noexcept {
  auto* c = static_cast<Conn*>(arg);
  StatusServer* self = c->owner;
  if ((what & EV_TIMEOUT) != 0) {
    self->dispatch(*c, true);
    return;
  }
  char buf[kMaxRequest + 1];
  const ssize_t n = ::recv(c->fd.get(), buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n < 0) {
    self->close(*c);
    return;
  }
  try {
    c->data.append(buf, static_cast<std::size_t>(n));
  } catch (...) {
    self->close(*c);
    return;
  }
  // End of file (the client shut down its sending side), a whole line, or too much.
  if (n == 0 || c->data.find('\n') != std::string::npos || c->data.size() > kMaxRequest) self->dispatch(*c, false);
}

// The request decides the answer: the status document now, or a command answered by reply().
void StatusServer::dispatch(Conn& c, bool timed_out) noexcept {
  c.ev.reset();
  c.answering = true;
  std::string request;
  try {
    request = c.data.size() > kMaxRequest ? std::string("(too long)") : firstLine(c.data);
    if (timed_out || request.empty() || request == "status") {
      startWriting(c, render_());
      return;
    }
    if (!command_) {
      startWriting(c, "{\"error\": \"unknown request: this udpx answers only \\\"status\\\"\"}\n");
      return;
    }
  } catch (...) {
    close(c);
    return;
  }
  // The handler may answer at once (reply() writes and may close `c`): nothing touches `c` after.
  c.data.clear();  // empty while the answer is owed (reply() looks for that)
  c.ev.reset(event_new(base_, -1, 0, &StatusServer::onWritable, &c));
  if (!c.ev || event_add(c.ev.get(), &kCommandTimeout) != 0) {
    close(c);
    return;
  }
  const std::uint64_t id = c.id;
  const Peer peer = c.peer;
  try {
    command_(id, request, peer);
  } catch (...) {
    reply(id, "{\"error\": \"the request failed inside udpx\"}\n");
  }
}

void StatusServer::startWriting(Conn& c, std::string text) noexcept {
  c.ev.reset();
  c.data = std::move(text);
  c.sent = 0;
  if (write(c)) {
    close(c);
    return;
  }
  c.ev.reset(event_new(base_, c.fd.get(), EV_WRITE | EV_PERSIST, &StatusServer::onWritable, &c));
  if (!c.ev || event_add(c.ev.get(), &kWriteTimeout) != 0) close(c);
}

bool StatusServer::reply(std::uint64_t id, std::string text) noexcept {
  for (Conn& c : conns_) {
    if (c.id == id && c.answering && c.data.empty() && c.sent == 0) {
      startWriting(c, std::move(text));
      return true;
    }
  }
  return false;
}

void StatusServer::onWritable(evutil_socket_t, short what, void* arg) noexcept {
  auto* c = static_cast<Conn*>(arg);
  StatusServer* self = c->owner;
  if ((what & EV_TIMEOUT) != 0 || self->write(*c)) self->close(*c);
}

bool StatusServer::write(Conn& c) noexcept {
  while (c.sent < c.data.size()) {
    const ssize_t n = ::send(c.fd.get(), c.data.data() + c.sent, c.data.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    c.sent += static_cast<std::size_t>(n);
  }
  return true;
}

void StatusServer::close(Conn& c) noexcept {
  for (auto it = conns_.begin(); it != conns_.end(); ++it) {
    if (&*it == &c) {
      conns_.erase(it);
      keepSpare();
      return;
    }
  }
}

}  // namespace udpx

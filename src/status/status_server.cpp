// The status socket's accept loop and non-blocking writes.
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

}  // namespace

StatusServer::StatusServer(UniqueFd fd, std::string endpoint, Render render)
    : fd_(std::move(fd)), endpoint_(std::move(endpoint)), render_(std::move(render)) {}

StatusServer::~StatusServer() {
  conns_.clear();
  accept_ev_.reset();
  // NOTE: a socket file is not removed here: the sandbox allows no unlink. The next start
  // replaces it (listenStatus), and `udpx status` meanwhile says "Connection refused".
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
  if (!spare_.valid()) spare_ = UniqueFd(fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
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
    conns_.push_back(Conn{this, std::move(fd), render_(), 0, nullptr, uid});
  } catch (...) {
    return;
  }
  Conn& c = conns_.back();
  if (write(c)) {
    close(c);
    return;
  }
  c.ev.reset(event_new(base_, c.fd.get(), EV_WRITE | EV_PERSIST, &StatusServer::onWritable, &c));
  if (!c.ev || event_add(c.ev.get(), &kWriteTimeout) != 0) close(c);
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

// TcpRelay: a frontend's TCP side (DNS over TCP): its listening sockets, and every connection
// relayed byte for byte to a server of the frontend's backend, on the same event loop as the
// UDP data path.
//
// A connection: accepted (accept4), checked (allow, tcp_max_connections, tcp_max_per_client), a
// server picked (Backend::pick) and connected to without blocking, on the server's own address
// and port (the TCP companion of its UDP service); a server that refuses or does not answer
// within kConnectTimeout is skipped for the next one (up to kMaxAttempts). Then each direction
// copies through a small buffer (DNS-sized exchanges: a recv and a send, no pipe) until a read
// fills it; from then on its bytes move kernel to kernel: splice() from one socket into a pipe
// and from the pipe into the other socket (read/write through a buffer where splice is refused,
// EINVAL). What udpx holds per direction is bounded by that buffer or pipe: a peer that does not read stops
// udpx reading the other side, so TCP's own flow control pushes back. End of file from one side
// is passed on as shutdown(SHUT_WR) once its pipe is drained (half-close both ways); the
// connection ends when both directions have, on an error, or after tcp_idle_timeout without a
// byte. Each connection holds its Server (Server::active_sessions) while it lives. Servers are
// checked over TCP too (dataplane/tcp_check.h: one check per backend, shared by its relays and
// owned by the runtime); a new connection prefers one whose TCP is up.
#pragma once

#include <event2/event.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "net/accept_backoff.h"
#include "net/address.h"
#include "net/event_ptr.h"
#include "net/unique_fd.h"

namespace udpx {

class Frontend;
class Server;

class TcpRelay {
 public:
  // A connection to a server not established within this long is given up (the next is tried).
  static constexpr milliseconds kConnectTimeout{3000};
  // Servers tried for one connection, at most.
  static constexpr std::uint32_t kMaxAttempts = 3;
  // Connections accepted per listener per wake-up: one busy listener cannot starve the loop.
  static constexpr int kAcceptBatch = 32;

  // Serves `fe` (its config: allow, tcp_* limits; its backend; its tcp counters) on `base`.
  TcpRelay(event_base* base, Frontend& fe);
  ~TcpRelay();  // closes every connection
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  // Takes a listening TCP socket for `addr` (watched once start() ran).
  void addListener(const SockAddr& addr, UniqueFd fd);
  // Gives back the socket of `addr` (a reload that moves or drops the address); connections
  // accepted through it stay. Invalid: no such listener.
  UniqueFd removeListener(const SockAddr& addr);
  bool hasListener(const SockAddr& addr) const noexcept;
  std::vector<SockAddr> addresses() const;
  // Starts accepting (Runtime::prepare: once the loop runs).
  void start();
  // Ends every connection (the frontend goes away, or udpx stops).
  void closeAll() noexcept;

  Frontend& frontend() noexcept { return fe_; }
  std::size_t open() const noexcept { return conns_.size(); }

 private:
  struct Listener;
  struct Direction;
  struct Conn;
  enum class End : std::uint8_t { Done, Idle, Error, RefusedUpstream, RefusedConnect, RefusedNoBackend };

  static void onAccept(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onConnEvent(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onConnTimer(evutil_socket_t fd, short what, void* arg) noexcept;
  void acceptFrom(Listener& l) noexcept;
  void admit(UniqueFd fd, const SockAddr& peer, TimePoint now) noexcept;
  // Connects to the next server to try; false: none left (the connection was ended).
  bool connectNext(Conn& c, TimePoint now) noexcept;
  void connected(Conn& c, TimePoint now) noexcept;
  // Moves what can be moved both ways (or only in `only`, the direction an event concerns) and
  // sets what to wait for; false: the connection ended.
  bool pump(Conn& c, TimePoint now, Direction* only = nullptr) noexcept;
  // One direction; false on an error that ends the connection.
  bool pumpDirection(Conn& c, Direction& d, bool& moved) noexcept;
  void watch(Conn& c) noexcept;
  void armTimer(Conn& c, milliseconds after) noexcept;
  void end(Conn& c, End why) noexcept;

  event_base* base_;
  Frontend& fe_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<std::unique_ptr<Conn>> conns_;  // Conn::index is its place here
  bool started_ = false;
  RateLimit log_;
};

}  // namespace udpx

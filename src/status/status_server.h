// StatusServer: serves the status JSON on the status socket. Each connection gets the
// document as it is at accept time, written without blocking the loop, then closed.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "net/accept_backoff.h"
#include "net/event_ptr.h"
#include "net/unique_fd.h"

namespace udpx {

class StatusServer {
 public:
  using Render = std::function<std::string()>;

  // Takes a listening socket (listenStatus); starts accepting on attach().
  StatusServer(UniqueFd fd, std::string endpoint, Render render);
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  void attach(event_base* base);
  const std::string& endpoint() const noexcept { return endpoint_; }

 private:
  struct Conn {
    StatusServer* owner;
    UniqueFd fd;
    std::string data;
    std::size_t sent = 0;
    EventPtr ev;
    std::int64_t uid = -1;  // the peer's user (SO_PEERCRED), -1 unknown
  };

  static void onAccept(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onWritable(evutil_socket_t fd, short what, void* arg) noexcept;
  void accept() noexcept;
  bool write(Conn& c) noexcept;  // true when done (or failed): close it
  void close(Conn& c) noexcept;
  // Out of descriptors: the spare, the pause, the per-user cap.
  void keepSpare() noexcept;
  UniqueFd acceptOne() noexcept;
  bool peerMayConnect(int fd, std::int64_t& uid) const noexcept;

  UniqueFd fd_;
  std::string endpoint_;
  Render render_;
  event_base* base_ = nullptr;
  EventPtr accept_ev_;
  std::list<Conn> conns_;
  UniqueFd spare_;
  std::unique_ptr<AcceptBackoff> backoff_;
};

}  // namespace udpx

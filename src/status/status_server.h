// StatusServer: serves the status JSON on the status socket. A client may send one request line
// first ("status", "reload"); one that sends nothing within a short wait, or closes its sending
// side, gets the status document as before (older `udpx status` and scripts send nothing). The
// answer is written without blocking the loop, then the connection is closed. Requests other than
// "status" go to the command handler with the peer's credentials (SO_PEERCRED), which answers
// later with reply() (a reload waits for the binder and for Runtime::reload).
#pragma once

#include <event2/event.h>

#include <sys/types.h>

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
  // The client, as the kernel saw it connect (SO_PEERCRED); known = false if it could not tell.
  struct Peer {
    bool known = false;
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
  };
  // A request other than "status": `id` names the connection for reply().
  using Command = std::function<void(std::uint64_t id, const std::string& request, const Peer& peer)>;

  // Takes a listening socket (listenStatus); starts accepting on attach().
  StatusServer(UniqueFd fd, std::string endpoint, Render render);
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  void attach(event_base* base);
  // Without a handler every other request is answered "unknown request".
  void setCommandHandler(Command handler) { command_ = std::move(handler); }
  // Answers the request of connection `id` with `text` and closes it; false when it is gone
  // (the client gave up, or waited longer than kCommandTimeout).
  bool reply(std::uint64_t id, std::string text) noexcept;
  const std::string& endpoint() const noexcept { return endpoint_; }
  // A reload moved the endpoint: accepts no more connections (the listening socket is closed),
  // but answers those it has (the reload request itself may be one). Connection ids are unique
  // across servers, so an answer owed can be given to whichever server has the connection.
  void stopListening() noexcept;
  bool idle() const noexcept { return conns_.empty(); }

 private:
  struct Conn {
    StatusServer* owner;
    UniqueFd fd;
    std::string data;  // the request while reading, then the answer
    std::size_t sent = 0;
    EventPtr ev;
    std::uint64_t id = 0;
    Peer peer;
    bool answering = false;  // reading done: a command handler owes the answer, or it is written
    std::int64_t uid = -1;  // the peer's user (SO_PEERCRED), -1 unknown
  };

  static void onAccept(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onReadable(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onWritable(evutil_socket_t fd, short what, void* arg) noexcept;
  void dispatch(Conn& c, bool timed_out) noexcept;
  void startWriting(Conn& c, std::string text) noexcept;
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
  Command command_;
  UniqueFd spare_;
  std::unique_ptr<AcceptBackoff> backoff_;
};

}  // namespace udpx

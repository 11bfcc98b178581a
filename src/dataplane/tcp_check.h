// TcpCheck: the health check over TCP of the servers a frontend with tcp = true relays to, run by
// its TcpRelay on the loop: every health interval each server gets a connection (DNS: a real
// query, framed, and its answer judged by the probe; other types: the connection alone). Its
// verdict is Server::tcp, apart from the UDP health: TCP picks prefer servers whose TCP is up,
// and `udpx status` names one that is down with the reason.
#pragma once

#include <event2/event.h>

#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "base/clock.h"
#include "net/event_ptr.h"
#include "net/unique_fd.h"
#include "protocols/probe.h"

namespace udpx {

class Backend;
class Frontend;
class Server;

class TcpCheck {
 public:
  TcpCheck(event_base* base, Frontend& fe);
  ~TcpCheck();
  TcpCheck(const TcpCheck&) = delete;
  TcpCheck& operator=(const TcpCheck&) = delete;

  // Checks at once, then every health interval of the frontend's backend (nothing while its
  // health checks are off).
  void start() noexcept;

 private:
  struct Attempt;
  static void onTimer(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onAttempt(evutil_socket_t fd, short what, void* arg) noexcept;
  void round(TimePoint now) noexcept;
  void begin(Server& s, TimePoint now) noexcept;
  // The attempt is over: `ok`, or failed for `reason`.
  void done(Attempt& a, bool ok, std::string_view reason) noexcept;

  event_base* base_;
  Frontend& fe_;
  EventPtr timer_;
  std::vector<std::unique_ptr<Attempt>> attempts_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace udpx

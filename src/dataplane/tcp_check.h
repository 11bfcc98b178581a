// TcpCheck: the health check over TCP of one backend's servers, for the frontends with tcp = true
// that relay to it: one check per backend however many such frontends it has (the runtime owns
// them, app/runtime_tcp.cpp), so every health interval each server gets one connection (DNS: a
// real query, framed, and its answer judged by the probe; other types: the connection alone).
// What it sends is the backend's probe, which all frontends of a backend share (the loader
// refuses frontends that imply different ones). Its verdict is Server::tcp, apart from the UDP
// health: TCP picks prefer servers whose TCP is up, and `udpx status` names one that is down
// with the reason.
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
class Server;

class TcpCheck {
 public:
  TcpCheck(event_base* base, Backend& be);
  ~TcpCheck();
  TcpCheck(const TcpCheck&) = delete;
  TcpCheck& operator=(const TcpCheck&) = delete;

  // Checks at once, then every health interval of the backend (nothing while its health checks
  // are off, unless connectWithoutProbes).
  void start() noexcept;
  // A TCP-only frontend (nts-ke, no UDP probe) relays to the backend: its servers are checked
  // by connecting even while the backend has no active probe.
  void connectWithoutProbes(bool on) noexcept { without_probes_ = on; }

  Backend& backend() noexcept { return be_; }

 private:
  struct Attempt;
  static void onTimer(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onAttempt(evutil_socket_t fd, short what, void* arg) noexcept;
  void round(TimePoint now) noexcept;
  void begin(Server& s, TimePoint now) noexcept;
  // The attempt is over: `ok`, or failed for `reason`.
  void done(Attempt& a, bool ok, std::string_view reason) noexcept;

  event_base* base_;
  Backend& be_;
  bool without_probes_ = false;
  EventPtr timer_;
  std::vector<std::unique_ptr<Attempt>> attempts_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace udpx

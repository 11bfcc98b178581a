// Prober: the active health check of one server — a connected UDP socket and a timer on the
// shared event loop, one probe in flight at a time — and, for backends without probes, the
// timer that tries a passively failed server again after fail_timeout.
#pragma once

#include <event2/event.h>

#include <array>
#include <cstdint>
#include <random>

#include "base/clock.h"
#include "config/config.h"
#include "net/event_ptr.h"
#include "net/unique_fd.h"
#include "protocols/probe.h"

namespace udpx {

class Server;

class Prober {
 public:
  Prober(event_base* base, Server& server, const HealthConfig& cfg, std::mt19937_64& rng);
  ~Prober();
  Prober(const Prober&) = delete;
  Prober& operator=(const Prober&) = delete;

  // Sends the first probe after `delay` (the jitter), then every interval.
  void start(milliseconds delay) noexcept;
  // Passive checks: calls Backend::retry after `delay` (fail_timeout).
  void retryAfter(milliseconds delay) noexcept;
  // Real traffic saw the server refuse: probe now rather than at the next interval, unless a
  // probe is in flight or was sent within the last timeout.
  void probeSoon(TimePoint now) noexcept;
  // Kiss-o'-death RATE made it probe less often than configured.
  bool slowed() const noexcept { return slow_shift_ > 0; }

  // The interval in use: the configured one, doubled for every kiss-o'-death RATE (bounded).
  milliseconds interval() const noexcept;

 private:
  static void onTimer(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onReadable(evutil_socket_t fd, short what, void* arg) noexcept;

  void send(TimePoint now) noexcept;
  void timedOut(TimePoint now) noexcept;
  void receive() noexcept;
  void finish(TimePoint now) noexcept;  // the probe is answered or failed: wait for the next
  void arm(milliseconds delay) noexcept;
  bool openSocket(TimePoint now) noexcept;

  event_base* base_;
  Server& server_;
  const HealthConfig& cfg_;
  std::mt19937_64& rng_;
  UniqueFd fd_;
  EventPtr read_ev_;
  EventPtr timer_ev_;
  bool in_flight_ = false;
  bool retrying_ = false;  // the timer is a passive retry, not a probe
  Token token_ = 0;
  TimePoint sent_at_{};
  unsigned slow_shift_ = 0;  // interval << slow_shift_ after kiss-o'-death RATE
  std::array<std::uint8_t, kMaxProbeLen> buf_{};
};

}  // namespace udpx

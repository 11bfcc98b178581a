// ServiceNotifier: tells systemd (Type=notify) how udpx is: READY=1 once every frontend serves,
// STATUS= a one-line summary kept up to date on a timer (sent only when it changed), WATCHDOG=1
// from the event loop, RELOADING=1 / READY=1 around a reload, STOPPING=1 at the end.
//
// Both processes of the binder model live in the unit's cgroup; the units say NotifyAccess=all
// and the worker, the process that knows the state, sends everything itself (the binder sends
// nothing). Its socket is connected in Runtime::prepare, before chroot and sandbox.
#pragma once

#include <event2/event.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "net/event_ptr.h"
#include "net/service_notify.h"

namespace udpx {

class ServiceNotifier {
 public:
  using Summary = std::function<std::string()>;
  // How often the summary is compared with what systemd last got.
  static constexpr std::chrono::seconds kStatusEvery{3};

  // Reads $NOTIFY_SOCKET and $WATCHDOG_USEC/$WATCHDOG_PID and connects. `watchdog_owner`: the
  // process systemd expects the watchdog of — this one, or for the worker its binder (the
  // unit's main process, in $WATCHDOG_PID), on whose behalf it pings. `summary` gives the
  // STATUS= text. Without $NOTIFY_SOCKET every call below does nothing.
  ServiceNotifier(event_base* base, pid_t watchdog_owner, Summary summary);
  ~ServiceNotifier();
  ServiceNotifier(const ServiceNotifier&) = delete;
  ServiceNotifier& operator=(const ServiceNotifier&) = delete;

  bool active() const noexcept { return socket_.active(); }
  std::optional<std::chrono::microseconds> watchdog() const noexcept { return watchdog_; }

  // Every frontend serves: READY=1 with the first STATUS=; starts the status and watchdog timers.
  void ready();
  // A reload starts: RELOADING=1 (with MONOTONIC_USEC, as systemd asks). Call ready() once it
  // is applied or refused: READY=1 and the summary as it is now.
  void reloading();
  // SIGTERM: STOPPING=1.
  void stopping();
  // Sends STATUS= if the summary changed since the last one sent (the status timer's work).
  void refreshStatus();

 private:
  static void onStatusTimer(evutil_socket_t, short, void* arg) noexcept;
  static void onWatchdogTimer(evutil_socket_t, short, void* arg) noexcept;

  event_base* base_;
  Summary summary_;
  ServiceNotifySocket socket_;
  std::optional<std::chrono::microseconds> watchdog_;
  std::string last_status_;
  EventPtr status_ev_;
  EventPtr watchdog_ev_;
  bool send_failed_logged_ = false;
};

}  // namespace udpx

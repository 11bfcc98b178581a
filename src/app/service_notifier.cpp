// ServiceNotifier: the sd_notify messages udpx sends, and their timers on the loop.
#include "app/service_notifier.h"

#include <time.h>

#include <cstdlib>

#include "base/log.h"

namespace udpx {
namespace {

timeval toTimeval(std::chrono::microseconds us) {
  return timeval{static_cast<time_t>(us.count() / 1000000), static_cast<suseconds_t>(us.count() % 1000000)};
}

}  // namespace

ServiceNotifier::ServiceNotifier(event_base* base, pid_t watchdog_owner, Summary summary)
    : base_(base), summary_(std::move(summary)) {
  std::string error;
  socket_ = ServiceNotifySocket::connect(std::getenv("NOTIFY_SOCKET"), error);
  if (!error.empty()) LOG_WARN("systemd notification: %s — systemctl status will not show udpx's state", error.c_str());
  if (!socket_.active()) return;
  watchdog_ = watchdogInterval(std::getenv("WATCHDOG_USEC"), std::getenv("WATCHDOG_PID"), watchdog_owner);
  LOG_DEBUG("systemd notification socket %s%s", socket_.address().c_str(),
            watchdog_ ? (", watchdog every " + std::to_string(watchdog_->count() / 2000) + " ms").c_str() : "");
}

ServiceNotifier::~ServiceNotifier() = default;

void ServiceNotifier::ready() {
  if (!active()) return;
  last_status_ = statusAssignment(summary_());
  if (!socket_.send("READY=1\n" + last_status_) && !send_failed_logged_) {
    send_failed_logged_ = true;
    LOG_WARN("systemd notification: cannot send READY=1 to %s", socket_.address().c_str());
  }
  if (!status_ev_) {
    status_ev_.reset(event_new(base_, -1, EV_PERSIST, &ServiceNotifier::onStatusTimer, this));
    const timeval tv = toTimeval(kStatusEvery);
    if (status_ev_) event_add(status_ev_.get(), &tv);
  }
  if (watchdog_ && !watchdog_ev_) {
    // Half the interval, as sd_watchdog_enabled(3) advises: one late wake-up is not a restart.
    watchdog_ev_.reset(event_new(base_, -1, EV_PERSIST, &ServiceNotifier::onWatchdogTimer, this));
    const timeval tv = toTimeval(std::max(std::chrono::microseconds(1000), *watchdog_ / 2));
    if (watchdog_ev_) event_add(watchdog_ev_.get(), &tv);
    socket_.send("WATCHDOG=1");
  }
}

void ServiceNotifier::reloading() {
  if (!active()) return;
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const long long usec = static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  socket_.send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=reloading the configuration");
  last_status_.clear();
}

void ServiceNotifier::stopping() {
  if (!active()) return;
  status_ev_.reset();
  watchdog_ev_.reset();
  socket_.send("STOPPING=1\nSTATUS=stopping");
}

void ServiceNotifier::refreshStatus() {
  if (!active()) return;
  std::string status = statusAssignment(summary_());
  if (status == last_status_) return;
  // Kept only once sent: a failed send is tried again on the next tick.
  if (socket_.send(status)) last_status_ = std::move(status);
}

void ServiceNotifier::onStatusTimer(evutil_socket_t, short, void* arg) noexcept {
  try {
    static_cast<ServiceNotifier*>(arg)->refreshStatus();
  } catch (...) {
  }
}

void ServiceNotifier::onWatchdogTimer(evutil_socket_t, short, void* arg) noexcept {
  static_cast<ServiceNotifier*>(arg)->socket_.send("WATCHDOG=1");
}

}  // namespace udpx

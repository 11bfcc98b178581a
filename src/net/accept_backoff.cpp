// AcceptBackoff: pause a listener on a resource shortage, resume it on a timer.
#include "net/accept_backoff.h"

#include <cerrno>
#include <cstring>

namespace udpx {

AcceptBackoff::AcceptBackoff(event_base* base, const char* what, std::function<void()> pause,
                             std::function<void()> resume)
    : what_(what), pause_(std::move(pause)), resume_(std::move(resume)),
      timer_(evtimer_new(base, &AcceptBackoff::onTimer, this)) {}

bool AcceptBackoff::isShortage(int err) noexcept {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

void AcceptBackoff::pauseAfter(int err) noexcept {
  if (log_.allow(Clock::now())) {
    const bool fds = err == EMFILE || err == ENFILE;
    LOG_ERROR("%s: cannot accept a connection: %s — not accepting for %lld ms%s%s", what_, strerror(err),
              static_cast<long long>(kPause.count()),
              fds ? "; raise the open-files limit (LimitNOFILE=, ulimit -n) or lower max_sessions" : "",
              log_.suffix());
  }
  if (paused_ || !timer_) return;
  paused_ = true;
  pause_();
  const timeval tv{static_cast<time_t>(kPause.count() / 1000), static_cast<suseconds_t>(kPause.count() % 1000 * 1000)};
  evtimer_add(timer_.get(), &tv);
}

void AcceptBackoff::onTimer(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<AcceptBackoff*>(arg);
  self->paused_ = false;
  self->resume_();
}

}  // namespace udpx

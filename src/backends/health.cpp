// Prober: sends a probe, waits for its reply or its timeout, reports to the server's backend,
// and waits for the next interval. Everything runs on the shared event loop.
#include "backends/health.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "backends/backend.h"
#include "config/duration.h"

namespace udpx {
namespace {

// A server sending kiss-o'-death RATE again and again is asked at most every 2^5 intervals.
constexpr unsigned kMaxSlowShift = 5;

timeval toTimeval(milliseconds d) noexcept {
  if (d.count() < 0) d = milliseconds{0};
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

}  // namespace

Prober::Prober(event_base* base, Server& server, const HealthConfig& cfg, std::mt19937_64& rng)
    : base_(base), server_(server), cfg_(cfg), rng_(rng) {
  timer_ev_.reset(evtimer_new(base_, &Prober::onTimer, this));
  if (!timer_ev_) throw std::runtime_error("cannot create a health check timer");
}

Prober::~Prober() = default;

milliseconds Prober::interval() const noexcept { return cfg_.interval * (1 << slow_shift_); }

void Prober::arm(milliseconds delay) noexcept {
  const timeval tv = toTimeval(delay);
  evtimer_add(timer_ev_.get(), &tv);
}

void Prober::start(milliseconds delay) noexcept {
  retrying_ = false;
  arm(delay);
}

void Prober::retryAfter(milliseconds delay) noexcept {
  retrying_ = true;
  arm(delay);
}

void Prober::probeSoon(TimePoint now) noexcept {
  if (in_flight_ || retrying_ || (sent_at_ != TimePoint{} && now - sent_at_ < cfg_.timeout)) return;
  arm(milliseconds{0});
}

void Prober::onTimer(evutil_socket_t, short, void* arg) noexcept {
  auto* p = static_cast<Prober*>(arg);
  const TimePoint now = Clock::now();
  if (p->retrying_) {
    p->retrying_ = false;
    p->server_.backend->retry(p->server_, now);
  } else if (p->in_flight_) {
    p->timedOut(now);
  } else {
    p->send(now);
  }
}

bool Prober::openSocket(TimePoint now) noexcept {
  const SockAddr& a = server_.addr();
  UniqueFd fd(socket(a.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  // Connected: the kernel delivers only the server's datagrams, and reports its ICMP port
  // unreachable as ECONNREFUSED on the next send or receive.
  if (!fd.valid() || connect(fd.get(), a.get(), a.length()) != 0) {
    const std::string why = std::string("cannot open a probe socket to ") + server_.label() + ": " + strerror(errno);
    server_.backend->probeFailed(server_, now, Problem::SendError, why,
                                 "check the route to the server (ip route get) and the open-files limit", false);
    return false;
  }
  read_ev_.reset(event_new(base_, fd.get(), EV_READ | EV_PERSIST, &Prober::onReadable, this));
  if (!read_ev_ || event_add(read_ev_.get(), nullptr) != 0) {
    read_ev_.reset();
    server_.backend->probeFailed(server_, now, Problem::SendError,
                                 "cannot watch the probe socket to " + server_.label() + " (libevent)",
                                 "check the open-files limit", false);
    return false;
  }
  fd_ = std::move(fd);
  return true;
}

// NOTE: every failed probe is counted (health.probe_failures) by Backend::probeFailed, so that
// the counter, the state and the sentences agree; here only probes sent are counted.
void Prober::send(TimePoint now) noexcept {
  const std::size_t len = buildProbe(cfg_.probe, rng_(), buf_, token_);
  if (len == 0 && cfg_.probe.type != ProbeType::Raw) {
    arm(interval());
    return;
  }
  ++server_.health.probes;
  sent_at_ = now;
  if (!fd_.valid() && !openSocket(now)) {
    arm(interval());
    return;
  }
  if (::send(fd_.get(), buf_.data(), len, 0) < 0) {
    const int e = errno;
    if (e == ECONNREFUSED) {
      server_.backend->probeFailed(server_, now, Problem::Refused, "", "", true);
    } else {
      server_.backend->probeFailed(server_, now, Problem::SendError,
                                   std::string("cannot send a probe to ") + server_.label() + ": " + strerror(e),
                                   "check the route to the server (ip route get) and firewall rules", false);
    }
    arm(interval());
    return;
  }
  in_flight_ = true;
  arm(cfg_.timeout);
}

void Prober::timedOut(TimePoint now) noexcept {
  in_flight_ = false;
  server_.backend->probeFailed(server_, now, Problem::NoReply, "", "", false);
  finish(now);
}

void Prober::finish(TimePoint now) noexcept {
  in_flight_ = false;
  const milliseconds elapsed = std::chrono::duration_cast<milliseconds>(now - sent_at_);
  arm(interval() > elapsed ? interval() - elapsed : milliseconds{0});
}

void Prober::onReadable(evutil_socket_t, short, void* arg) noexcept { static_cast<Prober*>(arg)->receive(); }

void Prober::receive() noexcept {
  std::array<std::uint8_t, 4096> reply;
  const ssize_t n = recv(fd_.get(), reply.data(), reply.size(), MSG_DONTWAIT);
  const TimePoint now = Clock::now();
  if (n < 0) {
    if (errno == ECONNREFUSED && in_flight_) {
      server_.backend->probeFailed(server_, now, Problem::Refused, "", "", true);
      finish(now);
    }
    return;
  }
  if (!in_flight_) return;  // late: its probe already timed out
  const ProbeJudgement j =
      judgeProbeReply(cfg_.probe, std::span<const std::uint8_t>(reply.data(), static_cast<std::size_t>(n)), token_);
  switch (j.verdict) {
    case ProbeVerdict::Ignore: return;  // keep waiting for the real answer
    case ProbeVerdict::Healthy: {
      server_.health.last_rtt_seconds = std::chrono::duration<double>(now - sent_at_).count();
      server_.backend->probeSucceeded(server_, now);
      break;
    }
    case ProbeVerdict::SlowDown:
      // Alive, and asking for fewer queries: not a failure, but every probe from now on waits longer.
      if (slow_shift_ < kMaxSlowShift) ++slow_shift_;
      server_.backend->probeSucceeded(server_, now);
      server_.health.reason = std::string(j.reason) + "; probing every " + formatDuration(interval()) + " now";
      server_.health.hint = std::string(j.hint);
      break;
    case ProbeVerdict::Unhealthy:
    case ProbeVerdict::Refuses:
      server_.backend->probeFailed(server_, now, Problem::Judged, j.reason, j.hint,
                                   j.verdict == ProbeVerdict::Refuses);
      break;
  }
  finish(now);
}

}  // namespace udpx

// TcpCheck: one connection per server and health interval; a DNS query over it when the probe
// is dns.
#include "dataplane/tcp_check.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "backends/backend.h"
#include "config/duration.h"

namespace udpx {

struct TcpCheck::Attempt {
  TcpCheck* check = nullptr;
  Server* server = nullptr;  // held (active_sessions) while the attempt runs
  UniqueFd fd;
  EventPtr ev;
  bool connected = false;
  Token token = 0;
  std::array<std::uint8_t, kMaxProbeLen + 2> out{};
  std::size_t out_len = 0;  // 0: connecting is the whole check
  std::array<std::uint8_t, 4096> in{};
  std::size_t in_len = 0;
};

namespace {

timeval toTimeval(milliseconds d) noexcept {
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>((d.count() % 1000) * 1000)};
}

}  // namespace

TcpCheck::TcpCheck(event_base* base, Backend& be) : base_(base), be_(be) {
  timer_.reset(evtimer_new(base_, &TcpCheck::onTimer, this));
}

TcpCheck::~TcpCheck() {
  for (auto& a : attempts_) --a->server->active_sessions;
}

void TcpCheck::start() noexcept {
  const timeval now{0, 0};
  if (timer_) evtimer_add(timer_.get(), &now);
}

void TcpCheck::onTimer(evutil_socket_t, short, void* arg) noexcept {
  static_cast<TcpCheck*>(arg)->round(Clock::now());
}

void TcpCheck::round(TimePoint now) noexcept {
  const HealthConfig& h = be_.config().health;
  // A TCP-only preset (nts-ke) has no UDP probe: its servers are checked by connecting.
  if (be_.probesActive() || without_probes_) {
    for (Server& s : be_.servers()) {
      const bool busy = std::any_of(attempts_.begin(), attempts_.end(), [&](const auto& a) { return a->server == &s; });
      if (!s.draining && !busy) begin(s, now);
    }
  }
  const timeval tv = toTimeval(h.interval);
  evtimer_add(timer_.get(), &tv);
}

void TcpCheck::begin(Server& s, TimePoint) noexcept {
  auto a = std::make_unique<Attempt>();
  a->check = this;
  a->server = &s;
  ++s.active_sessions;
  const ProbeSpec& spec = be_.config().health.probe;
  if (probeAsksOverTcp(spec.type)) {
    const std::size_t len = buildProbe(spec, rng_(), a->out, a->token);
    a->out_len = len == 0 ? 0 : frameTcpProbe(a->out, len);
  }
  Attempt& ref = *a;
  attempts_.push_back(std::move(a));
  ref.fd = UniqueFd(socket(s.addr().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!ref.fd.valid()) {
    done(ref, false, std::string("cannot open a TCP socket: ") + strerror(errno));
    return;
  }
  if (connect(ref.fd.get(), s.addr().get(), s.addr().length()) != 0 && errno != EINPROGRESS) {
    done(ref, false, errno == ECONNREFUSED ? "refuses TCP connections" : std::string("connect: ") + strerror(errno));
    return;
  }
  ref.ev.reset(event_new(base_, ref.fd.get(), EV_WRITE | EV_PERSIST, &TcpCheck::onAttempt, &ref));
  const timeval tv = toTimeval(be_.config().health.timeout);
  if (ref.ev) event_add(ref.ev.get(), &tv);
}

void TcpCheck::onAttempt(evutil_socket_t, short what, void* arg) noexcept {
  auto& a = *static_cast<Attempt*>(arg);
  TcpCheck& c = *a.check;
  const std::string timeout = formatDuration(c.be_.config().health.timeout);
  if (what & EV_TIMEOUT) {
    c.done(a, false, a.connected ? "accepts TCP connections but did not answer the probe over TCP within " + timeout
                                 : "did not accept a TCP connection within " + timeout);
    return;
  }
  if (!a.connected) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(a.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      c.done(a, false, err == ECONNREFUSED ? "refuses TCP connections" : std::string("connect: ") + strerror(err));
      return;
    }
    a.connected = true;
    if (a.out_len == 0) {
      c.done(a, true, "");
      return;
    }
    // A probe of a few dozen bytes fits an empty socket buffer: one send.
    if (::send(a.fd.get(), a.out.data(), a.out_len, MSG_NOSIGNAL) != static_cast<ssize_t>(a.out_len)) {
      c.done(a, false, std::string("cannot send the probe over TCP: ") + strerror(errno));
      return;
    }
    event_del(a.ev.get());
    event_assign(a.ev.get(), c.base_, a.fd.get(), EV_READ | EV_PERSIST, &TcpCheck::onAttempt, &a);
    const timeval tv = toTimeval(c.be_.config().health.timeout);
    event_add(a.ev.get(), &tv);
    return;
  }
  const ssize_t n = recv(a.fd.get(), a.in.data() + a.in_len, a.in.size() - a.in_len, 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n <= 0) {
    c.done(a, false, n == 0 ? "closed the TCP connection without answering the probe"
                            : std::string("reset the TCP connection: ") + strerror(errno));
    return;
  }
  a.in_len += static_cast<std::size_t>(n);
  const auto answer = tcpProbeAnswer(std::span<const std::uint8_t>(a.in.data(), a.in_len));
  if (answer.empty()) {
    if (a.in_len == a.in.size()) c.done(a, false, "answered the probe over TCP with more than 4 KiB");
    return;
  }
  const ProbeJudgement j = judgeProbeReply(c.be_.config().health.probe, answer, a.token);
  if (j.verdict == ProbeVerdict::Healthy || j.verdict == ProbeVerdict::SlowDown) {
    c.done(a, true, "");
  } else {
    c.done(a, false, j.verdict == ProbeVerdict::Ignore ? std::string_view("answered another query over TCP")
                                                       : j.reason);
  }
}

void TcpCheck::done(Attempt& a, bool ok, std::string_view reason) noexcept {
  Server& s = *a.server;
  const HealthConfig& h = be_.config().health;
  s.tcp.checked = true;
  if (ok) {
    s.tcp.failures = 0;
    if (!s.tcp.up && ++s.tcp.successes >= h.rise) s.tcp.up = true;
    if (s.tcp.up) s.tcp.reason.clear();
  } else {
    s.tcp.successes = 0;
    s.tcp.reason = std::string(reason);
    if (s.tcp.up && ++s.tcp.failures >= h.fall) s.tcp.up = false;
  }
  --s.active_sessions;
  const auto it = std::find_if(attempts_.begin(), attempts_.end(), [&](const auto& p) { return p.get() == &a; });
  if (it != attempts_.end()) attempts_.erase(it);  // frees `a`
}

}  // namespace udpx

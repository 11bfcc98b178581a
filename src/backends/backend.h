// Backend: a named pool of upstream servers, their health, and the choice of a server for each
// new session.
#pragma once

#include <event2/event.h>

#include <cstdint>
#include <memory>
#include <random>
#include <ranges>
#include <string>
#include <string_view>
#include <vector>

#include "backends/health_state.h"
#include "backends/server_stats.h"
#include "net/address.h"
#include "base/clock.h"
#include "config/config.h"
#include "net/event_ptr.h"
#include "base/log.h"

namespace udpx {

class Backend;
class Prober;

// One upstream address. A host name that resolves to several addresses gives one Server each
// (like chrony's `pool`). Sessions point at their Server: it is freed only when none does.
class Server {
 public:
  Server(SockAddr addr, std::string origin, Backend* backend, const HealthConfig& hc, bool up, TimePoint now);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  const SockAddr& addr() const noexcept { return addr_; }
  const std::string& label() const noexcept { return label_; }    // "127.0.0.1:123"
  const std::string& origin() const noexcept { return origin_; }  // as written in the config

  // May take new sessions: up, and still in the pool (not drained after re-resolution).
  bool eligible() const noexcept { return state.up() && !draining; }
  // The state in one word for status and logs: up, down, pending (new, not yet probed
  // healthy), draining (gone from DNS; existing sessions finish).
  std::string_view stateName() const noexcept;

  ServerStats stats;
  ServerHealth health;
  HealthState state;
  Backend* backend;              // the pool it belongs to
  std::uint32_t active_sessions = 0;  // sessions pointing here
  bool draining = false;
  bool pending = false;          // added by re-resolution and not yet up
  std::unique_ptr<Prober> prober;

 private:
  SockAddr addr_;
  std::string label_;
  std::string origin_;
};

// What went wrong with a server, for its reason and hint (one per state change in the log).
enum class Problem : std::uint8_t {
  NoReply,     // a probe got no reply within its timeout
  Refused,     // ICMP port unreachable (probe or real traffic)
  Judged,      // the reply said something is wrong (not synchronised, SERVFAIL, KoD DENY)
  Unanswered,  // requests on real traffic got no reply before their session ended
  SendError,   // the probe could not be sent
};

class Backend {
 public:
  // `base` runs the probes and `rng` makes their identities; both nullptr: no probes (tests).
  Backend(const BackendConfig& cfg, event_base* base, std::mt19937_64* rng);
  ~Backend();
  // Servers point back here and sessions point at servers: a Backend never moves.
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // Picks the server for a new session: round-robin or the first, skipping servers that are
  // down or draining. When every server is down it fails open (picks among all of them: a
  // dead pool answers nothing either way, and a server that came back is found at once),
  // unless on_all_down = "drop". nullptr: no server to use.
  Server* pick() noexcept;

  // Adds a server. `probe_first`: a new address found by re-resolution, not used before a
  // probe says it is healthy (when there are probes). Probes start at once if running.
  Server& addServer(const SockAddr& addr, const std::string& origin, bool probe_first, TimePoint now);
  // Marks a server as gone from DNS: no new sessions; freed once its sessions have ended.
  void drain(Server& s, TimePoint now);
  // The addresses a host name (`origin`) resolves to now: new ones are added (`later`: after
  // the first resolution, so probed before use), vanished ones drained.
  void applyAddresses(const std::string& origin, const std::vector<SockAddr>& addrs, bool later, TimePoint now);
  // Frees drained servers without sessions. Returns how many are still draining.
  std::size_t sweep() noexcept;

  // Starts the probes (at random offsets within the first interval, so a pool is not probed
  // in lockstep).
  void startProbes();

  // ---- passive signals from the data path: cheap, log only on a state change ----
  // The server answered a datagram with ICMP port unreachable.
  void markRefused(Server& s, TimePoint now) noexcept;
  // A valid reply came from the server on real traffic.
  void passiveReply(Server& s, TimePoint now) noexcept {
    if (s.state.failures() == 0 && s.state.up()) return;
    passiveReplySlow(s, now);
  }
  // A session ended with `requests` requests to the server unanswered; `failure`: its
  // frontend expects replies, so this counts as a failure (else only into `unanswered`).
  void passiveUnanswered(Server& s, std::uint32_t requests, TimePoint now, bool failure) noexcept;

  // ---- results from the probes ----
  void probeSucceeded(Server& s, TimePoint now) noexcept;
  void probeFailed(Server& s, TimePoint now, Problem p, std::string_view reason, std::string_view hint,
                   bool definitive) noexcept;
  // Passive checks only: a server down for fail_timeout is tried again.
  void retry(Server& s, TimePoint now) noexcept;

  const std::string& name() const noexcept { return cfg_.name; }
  const BackendConfig& config() const noexcept { return cfg_; }
  Balance balance() const noexcept { return cfg_.balance; }
  bool probesActive() const noexcept { return probes_active_; }
  // The servers, in order, as Server& (they are owned through unique_ptr so that their
  // addresses stay put while the pool grows and shrinks).
  auto servers() noexcept {
    return std::views::transform(servers_, [](const std::unique_ptr<Server>& p) -> Server& { return *p; });
  }
  auto servers() const noexcept {
    return std::views::transform(servers_, [](const std::unique_ptr<Server>& p) -> const Server& { return *p; });
  }
  // Every server that is not draining is down (false for an empty pool).
  bool allDown() const noexcept;
  // When the whole pool last went down (valid while allDown()).
  TimePoint allDownSince() const noexcept { return all_down_since_; }

  // The hint for "no reply" from this backend's servers ("does it allow queries from this host?").
  std::string_view noReplyHint() const noexcept;
  std::string_view refusedHint() const noexcept;

 private:
  static void onSweep(evutil_socket_t fd, short what, void* arg) noexcept;
  void passiveReplySlow(Server& s, TimePoint now) noexcept;
  void changed(Server& s, HealthState::Change c, TimePoint now) noexcept;
  // changed() for a passive signal; without probes, a server it took down is retried after
  // fail_timeout.
  void passiveChanged(Server& s, HealthState::Change c, TimePoint now) noexcept;
  void updateAllDown(TimePoint now) noexcept;
  void setProblem(Server& s, std::string reason, std::string_view hint);
  // The problem of a server that answered `what` ("a request", "the probe") with ICMP port
  // unreachable.
  void setRefused(Server& s, std::string_view what);

  BackendConfig cfg_;
  event_base* base_;
  std::mt19937_64* rng_;
  bool probes_active_;
  bool probes_started_ = false;
  std::vector<std::unique_ptr<Server>> servers_;
  std::size_t next_ = 0;  // round-robin cursor
  bool all_down_ = false;
  TimePoint all_down_since_{};
  EventPtr sweep_ev_;  // frees drained servers once their sessions have ended
};

}  // namespace udpx

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

// Without probes, this many distinct clients in a row without a reply (at least) mark a server
// down: a few clients (or one client's many ports) with junk requests must not.
inline constexpr std::size_t kSilentClientsToFail = 8;

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
  // Over TCP (dataplane/tcp_check.h), for servers of a frontend with tcp = true: judged by its
  // own checks, apart from the UDP health (a server may serve one and refuse the other). A
  // connection prefers servers whose TCP is up.
  struct TcpHealth {
    bool checked = false;  // a TCP check ran
    bool up = true;
    std::uint32_t failures = 0, successes = 0;  // in a row
    std::string reason;  // of the last failure, while down
  } tcp;
  HealthState state;
  Backend* backend;              // the pool it belongs to
  std::uint32_t active_sessions = 0;  // sessions pointing here
  // Shared upstream sockets (dataplane/shared_upstream.h): requests awaiting a reply from it and
  // sockets open to it. Like sessions, they keep a drained server from being freed.
  std::uint32_t in_flight = 0;
  std::uint32_t pool_sockets = 0;
  bool inUse() const noexcept { return active_sessions != 0 || in_flight != 0 || pool_sockets != 0; }
  bool draining = false;
  bool pending = false;          // added by re-resolution and not yet up
  // Gone from DNS, but still used until a new address of its name is up (make before break).
  bool leaving = false;
  // Leaving because a reload removed its host name: used until another server is up.
  bool unconfigured = false;
  // Passive checks: the clients left unanswered since its last reply (see SilentClients).
  SilentClients silent_clients;
  TimePoint last_unanswered{};   // when requests from clients last went unanswered
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
  // `client` is the client's address, which balance = "hash" picks by (its IP only: NTP clients
  // change source ports); nullptr picks as round-robin would.
  Server* pick(const SockAddr* client = nullptr) noexcept;

  // Adds a server. `probe_first`: a new address found by re-resolution, not used before a
  // probe says it is healthy (when there are probes). Probes start at once if running.
  Server& addServer(const SockAddr& addr, const std::string& origin, bool probe_first, TimePoint now);
  // Marks a server as gone from DNS: no new sessions; freed once its sessions have ended.
  void drain(Server& s, TimePoint now);
  // The addresses a host name (`origin`) resolves to now: new ones are added (`later`: after
  // the first resolution, so probed before use), vanished ones drained — make before break:
  // while no address the name has now is usable, the vanished ones serve on ("leaving") and are
  // drained once a new one is up.
  void applyAddresses(const std::string& origin, const std::vector<SockAddr>& addrs, bool later, TimePoint now);
  // Frees drained servers without sessions. Returns how many are still draining.
  std::size_t sweep() noexcept;

  // Starts the probes (at random offsets within the first interval, so a pool is not probed
  // in lockstep).
  void startProbes();

  // ---- reloads (backend_reload.cpp, called by app/reload_apply.cpp) ----
  // Takes `cfg`'s settings at once (balance, fail_timeout, health, on_all_down) and its literal
  // servers: those that stay keep their health state and sessions, new ones are added, those it
  // no longer names drain (their sessions finish, no new ones). A new server is probed before
  // it takes traffic, unless no server that stays can take it (then it starts up, as at
  // start-up: a reload never leaves a backend with nothing to use). Host-name entries are the
  // resolver's and stay as they are.
  void reconfigure(const BackendConfig& cfg, TimePoint now);
  // A reload removed the host-name entry `origin` (the resolver no longer watches it): its
  // servers drain, except while nothing else of the backend can take the traffic — then they
  // serve on until another server is up (make before break, as for a name that moves).
  void releaseOrigin(const std::string& origin, TimePoint now);
  // The backend is gone from the configuration: every server drains, probes stop. The runtime
  // frees it once activeSessions() is 0.
  void retire(TimePoint now);
  // Sessions, requests in flight and shared sockets on all its servers (0: it may be freed).
  std::uint32_t activeSessions() const noexcept;

  // ---- passive signals from the data path: cheap, log only on a state change ----
  // The server answered a datagram with ICMP port unreachable.
  void markRefused(Server& s, TimePoint now) noexcept;
  // A valid reply came from the server on real traffic.
  void passiveReply(Server& s, TimePoint now) noexcept {
    if (s.state.failures() == 0 && s.state.up() && s.silent_clients.size() == 0) return;
    passiveReplySlow(s, now);
  }
  // A session of `client` ended with `requests` requests to the server unanswered; `failure`:
  // its frontend expects replies, so this counts as a failure (else only into `unanswered`).
  // Passive evidence never overrides probes: with probes it is only counted (a server may
  // ignore junk or rate-limit a client and still be fine); without, a server is down once
  // silentClientsToFail() distinct clients in a row got no reply.
  void passiveUnanswered(Server& s, const SockAddr& client, std::uint32_t requests, TimePoint now,
                         bool failure) noexcept;
  // Distinct silent clients that mark a server without probes down: `fall`, and at least
  // kSilentClientsToFail.
  std::size_t silentClientsToFail() const noexcept;

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

  // Servers not draining (what "all N servers" counts).
  std::size_t inPool() const noexcept;

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
  // A reload no longer names the server: like drain(), with its own log line.
  void drainRemoved(Server& s);
  // A server of `origin` is up: the servers it replaces (leaving) are drained now.
  void replaced(const std::string& origin, TimePoint now);
  // Servers of removed names (unconfigured) drain once another server can take the traffic.
  void drainUnconfigured(TimePoint now);

  BackendConfig cfg_;
  event_base* base_;
  std::mt19937_64* rng_;
  bool probes_active_;
  bool probes_started_ = false;
  std::vector<std::unique_ptr<Server>> servers_;
  std::size_t next_ = 0;  // round-robin cursor
  // balance = "hash": the eligible server with the highest score for this client (rendezvous
  // hashing); fail-open picks among those not draining. nullptr: none.
  Server* pickHashed(const SockAddr& client, bool eligible_only) noexcept;
  bool all_down_ = false;
  TimePoint all_down_since_{};
  EventPtr sweep_ev_;  // frees drained servers once their sessions have ended
};

}  // namespace udpx

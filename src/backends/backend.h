// Backend: a named pool of upstream servers and the choice of a server for each new session.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/address.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/stats.h"

namespace udpx {

class Backend;

// One upstream address. A host name that resolves to several addresses gives one Server each
// (like chrony's `pool`).
class Server {
 public:
  Server(SockAddr addr, std::string origin) : addr_(addr), label_(addr.toString()), origin_(std::move(origin)) {}

  const SockAddr& addr() const noexcept { return addr_; }
  const std::string& label() const noexcept { return label_; }    // "127.0.0.1:123"
  const std::string& origin() const noexcept { return origin_; }  // as written in the config

  // Passively down: the server answered with ICMP port unreachable until `until`.
  bool isDown(TimePoint now) const noexcept { return now < down_until_; }
  void markRefused(TimePoint now, milliseconds fail_timeout) noexcept {
    ++stats.refused;
    down_until_ = now + fail_timeout;
  }

  ServerStats stats;
  ServerHealth health;
  Backend* backend = nullptr;  // the pool it belongs to

 private:
  SockAddr addr_;
  std::string label_;
  std::string origin_;
  TimePoint down_until_{};
};

class Backend {
 public:
  Backend(std::string name, Balance balance, milliseconds fail_timeout, std::vector<Server> servers);
  // Servers point back here and sessions point at servers: a Backend never moves.
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // Picks the server for a new session: round-robin or the first, skipping servers that are
  // down. When every server is down it still picks one (fail open): a dead pool answers
  // nothing either way, and a server that came back is found at once. nullptr: no servers.
  Server* pick(TimePoint now) noexcept;

  void markRefused(Server& s, TimePoint now) noexcept { s.markRefused(now, fail_timeout_); }

  const std::string& name() const noexcept { return name_; }
  Balance balance() const noexcept { return balance_; }
  std::vector<Server>& servers() noexcept { return servers_; }
  const std::vector<Server>& servers() const noexcept { return servers_; }

 private:
  std::string name_;
  Balance balance_;
  milliseconds fail_timeout_;
  std::vector<Server> servers_;
  std::size_t next_ = 0;  // round-robin cursor
};

// Turns the configured servers into addresses: literals as they are, host names through the
// system resolver (at startup; never on the data path). A name that does not resolve is
// reported in `problems` ("cannot resolve ...: check /etc/resolv.conf") and skipped.
std::vector<Server> resolveServers(const BackendConfig& cfg, std::vector<std::string>& problems);

}  // namespace udpx

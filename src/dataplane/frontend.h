// Frontend: a named set of listening sockets with its client ACL, protocol preset, session
// limits and counters. The per-datagram work lives in Proxy (dataplane/proxy.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/address.h"
#include "base/clock.h"
#include "config/config.h"
#include "net/event_ptr.h"
#include "dataplane/client_table.h"
#include "dataplane/rate_limit.h"
#include "dataplane/stats.h"
#include "dataplane/tcp_stats.h"
#include "net/unique_fd.h"

namespace udpx {

class Backend;
class Frontend;
class Proxy;

// One bound UDP socket of a frontend.
class Listener {
 public:
  Listener(Frontend& fe, SockAddr a, UniqueFd f) : frontend(fe), addr(a), fd(std::move(f)) {}

  Frontend& frontend;
  SockAddr addr;   // as configured
  UniqueFd fd;
  EventPtr ev;     // readability, owned by Proxy's loop
};

class Frontend {
 public:
  Frontend(const FrontendConfig& cfg, Backend* backend)
      : cfg_(cfg), protocol_(&protocolOf(cfg.preset)), backend_(backend) {
    limiter.configure(cfg.rate);
  }

  // True if the client may use this frontend (the `allow` list).
  bool allows(const SockAddr& client) const noexcept {
    for (const Cidr& c : cfg_.allow) {
      if (c.contains(client)) return true;
    }
    return false;
  }

  // A reload changed this frontend's settings or its backend (app/reload_apply.cpp): sessions
  // open now keep their server, the rate limiter its buckets (new rates only); Proxy::reconfigured
  // applies the rest to them.
  void reconfigure(const FrontendConfig& cfg, Backend* backend) {
    cfg_ = cfg;
    protocol_ = &protocolOf(cfg.preset);
    backend_ = backend;
    limiter.configure(cfg.rate);
  }

  const std::string& name() const noexcept { return cfg_.name; }
  const FrontendConfig& config() const noexcept { return cfg_; }
  const Protocol& protocol() const noexcept { return *protocol_; }
  // Requests go through the shared upstream sockets (upstream_sockets = "shared").
  bool sharesUpstream() const noexcept {
    return cfg_.upstream_sockets == UpstreamSocketsMode::Shared && protocol_->canShareUpstream();
  }
  Backend* backend() const noexcept { return backend_; }
  std::vector<std::unique_ptr<Listener>>& listeners() noexcept { return listeners_; }
  // The data path serving this frontend (nullptr until Proxy::attach), and its lane in that
  // Proxy's session table.
  Proxy* proxy() const noexcept { return proxy_; }
  std::uint32_t lane() const noexcept { return lane_; }

  FrontendStats stats;
  TcpStats tcp;               // its TCP side (dataplane/tcp_relay.h), when config().tcp
  std::uint32_t tcp_open = 0; // TCP connections open now
  ClientTable clients;        // the most recent clients and what each got (udpx status --clients)
  RateLimiter limiter;        // rate_limit*: token buckets per client address and prefix
  TimePoint last_eviction{};  // when the session table was last full (for `udpx status`)

 private:
  // Only Proxy::attach says which data path serves the frontend: its listeners' events find
  // their Proxy and lane here.
  friend class Proxy;
  void attachTo(Proxy& proxy, std::uint32_t lane) noexcept {
    proxy_ = &proxy;
    lane_ = lane;
  }

  FrontendConfig cfg_;
  const Protocol* protocol_;  // the preset's, looked up once: the data path calls through it
  Backend* backend_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  Proxy* proxy_ = nullptr;
  std::uint32_t lane_ = 0;
};

}  // namespace udpx

// Runtime::reload, the applying half: open what can fail first (new listening sockets), then
// change backends and frontends in place. Sockets of addresses that stay are kept (same fd),
// sessions of what stays are kept, what goes is drained or ended before its socket closes.
#include <algorithm>

#include "app/reload_diff.h"
#include "app/runtime.h"
#include "base/log.h"
#include "status/status_socket.h"

namespace udpx {
namespace {

template <typename T>
std::unique_ptr<T> takeByName(std::vector<std::unique_ptr<T>>& from, const std::string& name) {
  for (auto& p : from) {
    if (p && p->name() == name) return std::move(p);
  }
  return nullptr;
}

const FrontendDiff* frontendDiff(const ConfigDiff& diff, const std::string& name) {
  for (const FrontendDiff& d : diff.frontends) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

const BackendDiff* backendDiff(const ConfigDiff& diff, const std::string& name) {
  for (const BackendDiff& d : diff.backends) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

// The socket for listen address `addr`: one freed by this reload (an address that moves to
// another frontend), else the one prepareReload opened.
UniqueFd takeSocket(std::vector<ListenSlot>& freed, std::vector<ListenSlot>& opened, const SockAddr& addr) {
  for (std::vector<ListenSlot>* list : {&freed, &opened}) {
    for (ListenSlot& slot : *list) {
      if (slot.fd.valid() && slot.addr == addr && slot.transport == Transport::Udp) return std::move(slot.fd);
    }
  }
  return {};
}

}  // namespace

bool Runtime::prepareReload(const Config& next, std::vector<UniqueFd> handed, PreparedReload& prep,
                            std::vector<std::string>& errors) {
  std::vector<SockAddr> open_now;
  for (const auto& fe : frontends_) {
    for (const auto& l : fe->listeners()) open_now.push_back(l->addr);
  }
  std::vector<SockAddr> tcp_now;
  for (const auto& relay : tcp_relays_) {
    for (const SockAddr& a : relay->addresses()) tcp_now.push_back(a);
  }
  std::vector<const FrontendConfig*> owners;
  for (const FrontendConfig& f : next.frontends) {
    for (const ListenEndpoint& e : listenEndpoints(f)) {
      const auto& now = e.transport == Transport::Tcp ? tcp_now : open_now;
      if (std::find(now.begin(), now.end(), e.addr) != now.end()) continue;
      prep.listeners.push_back(ListenSlot{e.addr, {}, e.transport});
      owners.push_back(&f);
    }
  }
  const std::string status_to = statusTarget(next);
  prep.status_changed = status_to != status_endpoint_;
  for (UniqueFd& fd : handed) {
    // The status socket file the binder made for a moved global.status (it can create files; the
    // sandboxed worker cannot remove a stale one, and in a chroot cannot reach the path at all).
    const std::string path = boundSocketPath(fd.get());
    if (!path.empty()) {
      if (prep.status_changed && path == status_to && !prep.status_fd.valid()) {
        prep.status_fd = std::move(fd);
      } else {
        LOG_WARN("reload: a status socket handed over (%s) is not the one this reload moves to; closed", path.c_str());
      }
      continue;
    }
    std::string why;
    const ListenEndpoint got = boundEndpoint(fd.get(), why);
    const SockAddr& bound = got.addr;
    const std::optional<std::size_t> slot =
        bound.empty() ? std::nullopt : findListenSlot(prep.listeners, bound, got.transport);
    if (!slot) {
      LOG_WARN("reload: a socket handed over (%s) serves no new listen address; closed",
               bound.empty() ? why.c_str() : bound.toString().c_str());
      continue;
    }
    prep.listeners[*slot].fd = std::move(fd);
  }
  for (std::size_t i = 0; i < prep.listeners.size(); ++i) {
    ListenSlot& slot = prep.listeners[i];
    if (slot.fd.valid()) continue;
    const std::string where = "frontend \"" + owners[i]->name + "\": new listen address " + slot.addr.toString() +
                              (slot.transport == Transport::Tcp ? " (TCP)" : "");
    if (!no_bind_reason_.empty()) {
      errors.push_back(where + ": no socket was handed over for it, and " + no_bind_reason_);
      continue;
    }
    std::string why;
    slot.fd = openEndpointSocket({slot.addr, slot.transport}, why);
    if (!slot.fd.valid()) errors.push_back(where + ": cannot listen: " + why);
  }
  // The HTTP endpoint (/metrics, /status): a new address is bound now, before anything changes.
  const std::optional<SockAddr>& was = cfg_.global.metrics;
  const std::optional<SockAddr>& will = next.global.metrics;
  prep.metrics_changed = was.has_value() != will.has_value() || (was && !(*was == *will));
  if (prep.metrics_changed && will) {
    std::string why;
    // The old endpoint still holds its port: a move to the same port on another address of a
    // wildcard is refused by the kernel, and said so.
    prep.http = openMetrics(*will, why);
    if (!prep.http) {
      errors.push_back(ConfigError{next.file, next.global.metrics_pos, "global.metrics",
                                   "cannot listen on " + will->toString() + ": " + why, ""}
                           .format());
    }
  }
  // The status socket: a new name is bound now. A socket file comes from the binder (above); the
  // one process makes it here, in its sandbox, where a file already at the path refuses the move.
  if (prep.status_changed && status_to != "off") {
    std::string why;
    if (!prep.status_fd.valid() && status_to[0] == '/' && via_binder_) {
      why = "the binder, which makes the socket files of a reload, made none: something listens there already";
    } else if (!prep.status_fd.valid()) {
      prep.status_fd = listenStatus(status_to, why, StaleSocket::Refuse);
    }
    if (!prep.status_fd.valid()) {
      errors.push_back(ConfigError{next.file, next.global.status_pos, "global.status",
                                   "cannot listen on " + status_to + ": " + why, ""}
                           .format());
    }
    prep.status_endpoint = status_to;
  } else if (prep.status_changed) {
    prep.status_endpoint = "off";
  }
  return errors.empty();
}

void Runtime::applyReload(const ConfigDiff& diff, const Config& next, PreparedReload& prep) {
  // Staged replies point at listeners and frontends: they leave before anything changes.
  proxy_->flushPending();
  const TimePoint now = Clock::now();
  if (!log_level_from_command_line) setLogLevel(next.global.log_level);
  if (next.global.max_sessions != cfg_.global.max_sessions) proxy_->setGlobalCap(next.global.max_sessions);

  // Backends, in the new file order: kept ones (same object: their servers, health and
  // sessions), changed in place, new ones built; removed ones retire until their sessions end.
  // New resolvers first: the names watched below ask them.
  resolver_->setResolvers(next.global.resolvers);
  std::vector<std::unique_ptr<Backend>> old = std::move(backends_);
  backends_.clear();
  for (const BackendDiff& d : diff.backends) {
    if (d.change != Change::Removed) continue;
    std::unique_ptr<Backend> b = takeByName(old, d.name);
    resolver_->unwatch(*b);
    b->retire(now);
    LOG_INFO("backend \"%s\" removed: %u sessions finish on its servers, no new ones", d.name.c_str(),
             b->activeSessions());
    retired_.push_back(std::move(b));
  }
  for (const BackendConfig& bc : next.backends) {
    const BackendDiff* d = backendDiff(diff, bc.name);
    if (d->change == Change::Added) {
      backends_.push_back(std::make_unique<Backend>(bc, base_.get(), &rng_));
      if (prepared_) backends_.back()->startProbes();
      for (const ServerConfig& sc : bc.servers) {
        if (!sc.literal) resolver_->watch(*backends_.back(), sc);
      }
      continue;
    }
    std::unique_ptr<Backend> b = takeByName(old, bc.name);
    if (d->change == Change::Changed) {
      const BackendConfig before = b->config();
      b->reconfigure(bc, now);
      applyHostNames(*b, before, bc, now);
    }
    backends_.push_back(std::move(b));
  }

  applyFrontends(diff, next, prep);

  if (prep.status_changed) {
    // The old server stops accepting but answers what it owes, the reload request included: the
    // client that asked for this reload gets its outcome on the socket it asked on.
    const std::string was = status_endpoint_;
    if (status_) {
      status_->stopListening();
      retired_status_.push_back(std::move(status_));
    }
    status_endpoint_ = prep.status_endpoint;
    std::erase_if(standing_findings_, [](const Finding& f) { return f.subject.rfind("status socket ", 0) == 0; });
    if (prep.status_fd.valid()) attachStatus(std::move(prep.status_fd));
    LOG_INFO("status socket moved from %s to %s%s", was.c_str(), status_endpoint_.c_str(),
             was[0] != '/' ? ""
             : via_binder_ ? " (the binder removes the old socket file)"
                           : " (the old socket file stays: udpx cannot remove files in its sandbox; a start replaces "
                             "it, or remove it by hand)");
  }
  if (!retired_.empty() || !retired_status_.empty()) {
    sweepRetired();
    if (!retired_.empty() || !retired_status_.empty()) {
      if (!retire_ev_) retire_ev_.reset(evtimer_new(base_.get(), &Runtime::onRetireTimer, this));
      const timeval tv{1, 0};
      if (retire_ev_) evtimer_add(retire_ev_.get(), &tv);
    }
  }
  if (prep.metrics_changed) {
    http_ = std::move(prep.http);
    if (http_) {
      const std::string a = http_->address().toString();
      LOG_INFO("metrics on http://%s/metrics, status on http://%s/status%s", a.c_str(), a.c_str(),
               process_ ? "" : " (without the process_* metrics: they need the endpoint at start-up)");
    } else {
      LOG_INFO("metrics endpoint turned off");
    }
  }
  static_cast<ReloadableConfig&>(cfg_) = next;
  cfg_.text_hash = next.text_hash;
}

void Runtime::applyFrontends(const ConfigDiff& diff, const Config& next, PreparedReload& prep) {
  std::vector<std::unique_ptr<Frontend>> old = std::move(frontends_);
  frontends_.clear();
  std::vector<ListenSlot> freed;  // sockets of addresses a frontend gives up (another may take them)
  // TCP first: relays of frontends that go or turn tcp off end before their frontend does.
  std::vector<ListenSlot> tcp_freed;
  dropTcp(next, tcp_freed);

  // First what goes: removed frontends (their sessions end, then their sockets are free), and
  // the listen addresses a changed frontend no longer has (the sessions that came through them end).
  for (const FrontendDiff& d : diff.frontends) {
    if (d.change == Change::Removed) {
      std::unique_ptr<Frontend> fe = takeByName(old, d.name);
      if (fe->proxy() != nullptr) proxy_->detach(*fe);
      for (auto& l : fe->listeners()) {
        l->ev.reset();
        freed.push_back(ListenSlot{l->addr, std::move(l->fd)});
      }
      continue;
    }
    // A TCP-only preset (nts-ke) keeps no UDP listener.
    const bool tcp_only = d.after != nullptr && protocolOf(d.after->preset).tcp_only;
    if (d.change != Change::Changed || !(d.changed("listen") || tcp_only)) continue;
    for (auto& fe : old) {
      if (!fe || fe->name() != d.name) continue;
      auto& ls = fe->listeners();
      for (auto it = ls.begin(); it != ls.end();) {
        Listener* l = it->get();
        const std::vector<SockAddr> keep = tcp_only ? std::vector<SockAddr>{} : d.after->listen;
        if (std::find(keep.begin(), keep.end(), l->addr) != keep.end()) {
          ++it;
          continue;
        }
        if (fe->proxy() != nullptr) {
          proxy_->endSessionsIf(fe->lane(), [l](const Session& s) { return s.listener == l; }, SessionEnd::Shutdown);
          proxy_->listenerClosing(*l);
        }
        l->ev.reset();
        freed.push_back(ListenSlot{l->addr, std::move(l->fd)});
        it = ls.erase(it);
      }
    }
  }

  // Then every frontend of the new file, in its order.
  std::uint32_t max_datagram = 1;
  for (const FrontendConfig& fc : next.frontends) {
    max_datagram = std::max(max_datagram, fc.max_datagram);
    Backend* be = nullptr;
    for (auto& b : backends_) {
      if (b->name() == fc.backend) be = b.get();
    }
    const FrontendDiff* d = frontendDiff(diff, fc.name);
    const bool udp = !protocolOf(fc.preset).tcp_only;
    if (d->change == Change::Added) {
      auto fe = std::make_unique<Frontend>(fc, be);
      for (const SockAddr& a : udp ? fc.listen : std::vector<SockAddr>{}) {
        fe->listeners().push_back(std::make_unique<Listener>(*fe, a, takeSocket(freed, prep.listeners, a)));
      }
      frontends_.push_back(std::move(fe));
      continue;
    }
    std::unique_ptr<Frontend> fe = takeByName(old, fc.name);
    if (d->change == Change::Changed) {
      fe->reconfigure(fc, be);
      for (const SockAddr& a : udp ? fc.listen : std::vector<SockAddr>{}) {
        auto& ls = fe->listeners();
        const bool has = std::any_of(ls.begin(), ls.end(), [&](const auto& l) { return l->addr == a; });
        if (!has) ls.push_back(std::make_unique<Listener>(*fe, a, takeSocket(freed, prep.listeners, a)));
      }
      if (fe->proxy() != nullptr) {
        Frontend& f = *fe;
        if (d->changed("preset")) {
          // Another protocol: the sessions' pending requests and budgets mean nothing to it.
          proxy_->endSessionsIf(f.lane(), [](const Session&) { return true; }, SessionEnd::Closed);
        } else if (d->changed("allow")) {
          proxy_->endSessionsIf(f.lane(), [&f](const Session& s) { return !f.allows(s.client); }, SessionEnd::Closed);
        }
      }
    }
    frontends_.push_back(std::move(fe));
  }
  proxy_->growBuffers(max_datagram);
  addTcp(prep, tcp_freed);
  syncTcpChecks();  // frontends may have moved to other backends, removed backends lost theirs
  if (!prepared_) return;  // prepare() attaches every frontend
  for (auto& fe : frontends_) {
    const FrontendDiff* d = frontendDiff(diff, fe->name());
    if (d->change == Change::Added) {
      proxy_->attach(*fe);
    } else if (d->change == Change::Changed) {
      proxy_->reconfigured(*fe);
    }
  }
}

void Runtime::applyHostNames(Backend& b, const BackendConfig& before, const BackendConfig& after, TimePoint now) {
  // By the entry as written (the servers' origin), so a name written another way is a new one.
  auto has = [](const BackendConfig& c, const std::string& text) {
    return std::any_of(c.servers.begin(), c.servers.end(),
                       [&](const ServerConfig& sc) { return !sc.literal && sc.text == text; });
  };
  for (const ServerConfig& sc : before.servers) {
    if (sc.literal || has(after, sc.text)) continue;
    resolver_->unwatch(b, sc.text);
    b.releaseOrigin(sc.text, now);
  }
  for (const ServerConfig& sc : after.servers) {
    if (!sc.literal && !has(before, sc.text)) resolver_->watch(b, sc);
  }
}

void Runtime::onRetireTimer(evutil_socket_t, short, void* arg) noexcept {
  auto* rt = static_cast<Runtime*>(arg);
  rt->sweepRetired();
  if (!rt->retired_.empty() || !rt->retired_status_.empty()) {
    const timeval tv{1, 0};
    evtimer_add(rt->retire_ev_.get(), &tv);
  }
}

void Runtime::sweepRetired() noexcept {
  std::erase_if(retired_, [](const std::unique_ptr<Backend>& b) { return b->activeSessions() == 0; });
  std::erase_if(retired_status_, [](const std::unique_ptr<StatusServer>& s) { return s->idle(); });
}

}  // namespace udpx

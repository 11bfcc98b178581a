// Runtime's TCP side: one TcpRelay per frontend with tcp = true, its listening sockets at start
// and across reloads (kept, moved, added, closed like the UDP ones, matched by address and
// transport), and one TcpCheck per backend the relays use.
#include <algorithm>

#include "app/runtime.h"
#include "base/log.h"

namespace udpx {
namespace {

UniqueFd takeTcpSocket(std::vector<ListenSlot>& from, const SockAddr& addr) {
  for (ListenSlot& slot : from) {
    if (slot.fd.valid() && slot.addr == addr && slot.transport == Transport::Tcp) return std::move(slot.fd);
  }
  return {};
}

}  // namespace

TcpRelay* Runtime::tcpRelayOf(const Frontend& fe) const noexcept {
  for (const auto& r : tcp_relays_) {
    if (&r->frontend() == &fe) return r.get();
  }
  return nullptr;
}

void Runtime::makeTcpRelays() {
  for (auto& fe : frontends_) {
    if (fe->config().tcp) tcp_relays_.push_back(std::make_unique<TcpRelay>(base_.get(), *fe));
  }
}

void Runtime::dropTcp(const Config& next, std::vector<ListenSlot>& freed) {
  for (auto it = tcp_relays_.begin(); it != tcp_relays_.end();) {
    TcpRelay& relay = **it;
    const std::string& name = relay.frontend().name();
    const auto fc = std::find_if(next.frontends.begin(), next.frontends.end(),
                                 [&](const FrontendConfig& f) { return f.name == name; });
    const bool stays = fc != next.frontends.end() && fc->tcp;
    for (const SockAddr& a : relay.addresses()) {
      if (stays && std::find(fc->listen.begin(), fc->listen.end(), a) != fc->listen.end()) continue;
      freed.push_back(ListenSlot{a, relay.removeListener(a), Transport::Tcp});
    }
    if (stays) {
      ++it;
      continue;
    }
    if (relay.open() > 0) {
      LOG_INFO("frontend \"%s\": TCP turned off or frontend removed: %zu TCP connections closed", name.c_str(),
               relay.open());
    }
    it = tcp_relays_.erase(it);
  }
}

void Runtime::addTcp(PreparedReload& prep, std::vector<ListenSlot>& freed) {
  for (auto& fe : frontends_) {
    const FrontendConfig& fc = fe->config();
    if (!fc.tcp) continue;
    TcpRelay* relay = tcpRelayOf(*fe);
    if (relay == nullptr) {
      tcp_relays_.push_back(std::make_unique<TcpRelay>(base_.get(), *fe));
      relay = tcp_relays_.back().get();
      if (prepared_) relay->start();
    }
    for (const SockAddr& a : fc.listen) {
      if (relay->hasListener(a)) continue;
      UniqueFd fd = takeTcpSocket(freed, a);
      if (!fd.valid()) fd = takeTcpSocket(prep.listeners, a);
      relay->addListener(a, std::move(fd));
    }
  }
}

void Runtime::syncTcpChecks() {
  // Keyed by the Backend object: one a reload replaced (removed, then added under the same name)
  // is another backend with servers of its own. The probe is the backend's, the same for all its
  // frontends (config/health_section.cpp refuses frontends that imply different ones); only a
  // TCP-only frontend (nts-ke) adds something: checks by connecting while the backend has no probe.
  auto usedBy = [this](const Backend& be, bool& tcp_only) {
    bool used = false;
    tcp_only = false;
    for (const auto& r : tcp_relays_) {
      if (r->frontend().backend() != &be) continue;
      used = true;
      tcp_only = tcp_only || r->frontend().protocol().tcp_only;
    }
    return used;
  };
  bool tcp_only = false;
  std::erase_if(tcp_checks_, [&](const std::unique_ptr<TcpCheck>& c) { return !usedBy(c->backend(), tcp_only); });
  for (auto& be : backends_) {
    if (!usedBy(*be, tcp_only)) continue;
    const auto it = std::find_if(tcp_checks_.begin(), tcp_checks_.end(),
                                 [&](const std::unique_ptr<TcpCheck>& c) { return &c->backend() == be.get(); });
    TcpCheck* check = it != tcp_checks_.end() ? it->get() : nullptr;
    if (check == nullptr) {
      tcp_checks_.push_back(std::make_unique<TcpCheck>(base_.get(), *be));
      check = tcp_checks_.back().get();
      if (prepared_) check->start();
    }
    check->connectWithoutProbes(tcp_only);
  }
}

}  // namespace udpx

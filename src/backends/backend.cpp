// Backend: server choice (round-robin / first with passive failure skipping) and resolution.
#include "backends/backend.h"

#include <netdb.h>

namespace udpx {

Backend::Backend(std::string name, Balance balance, milliseconds fail_timeout, std::vector<Server> servers)
    : name_(std::move(name)), balance_(balance), fail_timeout_(fail_timeout), servers_(std::move(servers)) {
  for (Server& s : servers_) s.backend = this;
}

Server* Backend::pick(TimePoint now) noexcept {
  const std::size_t n = servers_.size();
  if (n == 0) return nullptr;
  if (balance_ == Balance::First) {
    for (Server& s : servers_) {
      if (!s.isDown(now)) return &s;
    }
    // All down: keep the configured preference so the primary is retried first.
    return &servers_[0];
  }
  for (std::size_t i = 0; i < n; ++i) {
    Server& s = servers_[(next_ + i) % n];
    if (!s.isDown(now)) {
      next_ = (next_ + i + 1) % n;
      return &s;
    }
  }
  Server& s = servers_[next_ % n];
  next_ = (next_ + 1) % n;
  return &s;
}

std::vector<Server> resolveServers(const BackendConfig& cfg, std::vector<std::string>& problems) {
  std::vector<Server> out;
  for (const ServerConfig& sc : cfg.servers) {
    if (sc.literal) {
      SockAddr a = *sc.literal;
      a.setPort(sc.port);
      out.emplace_back(a, sc.text);
      continue;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(sc.host.c_str(), nullptr, &hints, &res);
    if (rc != 0) {
      problems.push_back("backend \"" + cfg.name + "\": cannot resolve " + sc.host + ": " + gai_strerror(rc) +
                         " (check the name and /etc/resolv.conf; the server is skipped)");
      continue;
    }
    std::size_t before = out.size();
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      SockAddr a(ai->ai_addr, ai->ai_addrlen);
      if (a.empty()) continue;
      a.setPort(sc.port);
      bool dup = false;
      for (std::size_t i = before; i < out.size(); ++i) dup = dup || out[i].addr() == a;
      if (!dup) out.emplace_back(a, sc.text);
    }
    freeaddrinfo(res);
  }
  return out;
}

}  // namespace udpx

// A frontend must not be its own backend's server: the datagram udpx sends there arrives at its
// own listening socket, opens a new session, is sent there again, and so on forever (thousands
// of sessions a second from one datagram). Also through other frontends: f's server is g's
// listen address and g's server is f's. Decided from the file alone: a server reaches a listen
// address when they are the same, or when the listen address is the wildcard of the server's
// family and the server is this host (loopback, the unspecified address, "localhost").
#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <arpa/inet.h>

#include "config/sections.h"

namespace udpx {
namespace {

// Where datagrams to `s` arrive, as a listening socket sees them; nullopt for a host name that
// could be anything (only "localhost" is known ahead: RFC 6761 keeps it on this host).
std::vector<SockAddr> destinations(const ServerConfig& s) {
  std::vector<SockAddr> out;
  if (s.port == 0) return out;
  if (!s.literal) {
    const std::string h = lower(s.host.back() == '.' ? s.host.substr(0, s.host.size() - 1) : s.host);
    const std::string suffix = ".localhost";
    const bool local = h == "localhost" || (h.size() > suffix.size() && h.compare(h.size() - suffix.size(),
                                                                                    suffix.size(), suffix) == 0);
    if (local) {
      out.push_back(*SockAddr::parseIp("127.0.0.1", s.port));
      out.push_back(*SockAddr::parseIp("::1", s.port));
    }
    return out;
  }
  SockAddr a = *s.literal;
  if (a.family() == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a.v6().sin6_addr)) {
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &a.v6().sin6_addr.s6_addr[12], buf, sizeof buf);
    a = *SockAddr::parseIp(buf, s.port);
  }
  // Linux delivers datagrams sent to 0.0.0.0 or :: to this host, as loopback.
  if (a.isWildcard()) a = *SockAddr::parseIp(a.family() == AF_INET ? "127.0.0.1" : "::1", s.port);
  out.push_back(a);
  return out;
}

bool isLoopback(const SockAddr& a) {
  if (a.family() == AF_INET) return (ntohl(a.v4().sin_addr.s_addr) >> 24) == 127;
  return IN6_IS_ADDR_LOOPBACK(&a.v6().sin6_addr);
}

bool arrivesAt(const SockAddr& dest, const SockAddr& listen) {
  if (dest.family() != listen.family() || dest.port() != listen.port()) return false;
  return dest == listen || (listen.isWildcard() && isLoopback(dest));
}

// One way a datagram of frontend `from` comes back to udpx: its backend's server `server` is
// the listen address `listen` of frontend `to`.
struct Edge {
  std::size_t from, to;
  const ServerDraft* server;
  std::size_t listen;
};

const BackendDraft* backendOf(const FrontendDraft& f, const std::vector<BackendDraft>& backends) {
  if (!f.has_backend) return nullptr;
  for (const BackendDraft& b : backends) {
    if (b.config.name == f.config.backend) return &b;
  }
  return nullptr;
}

// The frontends `start` leads to, following edges; `via` the first edge taken to each.
std::vector<std::optional<std::size_t>> reach(std::size_t start, std::size_t count, const std::vector<Edge>& edges) {
  std::vector<std::optional<std::size_t>> via(count);
  std::vector<std::size_t> todo{start};
  while (!todo.empty()) {
    const std::size_t at = todo.back();
    todo.pop_back();
    for (std::size_t e = 0; e < edges.size(); ++e) {
      if (edges[e].from != at || via[edges[e].to]) continue;
      via[edges[e].to] = e;
      todo.push_back(edges[e].to);
    }
  }
  return via;
}

}  // namespace

void checkLoops(ConfigReader& r, const std::vector<FrontendDraft>& frontends,
                const std::vector<BackendDraft>& backends) {
  std::vector<Edge> edges;
  for (std::size_t f = 0; f < frontends.size(); ++f) {
    const BackendDraft* b = backendOf(frontends[f], backends);
    if (b == nullptr) continue;
    for (const ServerDraft& s : b->servers) {
      for (const SockAddr& dest : destinations(s.config)) {
        for (std::size_t g = 0; g < frontends.size(); ++g) {
          const std::vector<SockAddr>& listen = frontends[g].config.listen;
          for (std::size_t l = 0; l < listen.size() && l < frontends[g].listen_pos.size(); ++l) {
            if (arrivesAt(dest, listen[l])) edges.push_back(Edge{f, g, &s, l});
          }
        }
      }
    }
  }
  std::vector<const ServerDraft*> reported;
  for (const Edge& e : edges) {
    if (std::find(reported.begin(), reported.end(), e.server) != reported.end()) continue;
    // The edge loops when the frontend it arrives at leads back to where it started.
    std::string path;
    if (e.to != e.from) {
      const auto via = reach(e.to, frontends.size(), edges);
      if (!via[e.from]) continue;
      // Walk back from `from` to `to` to name the frontends on the way.
      std::vector<std::size_t> chain;
      for (std::size_t at = e.from; at != e.to; at = edges[*via[at]].from) chain.insert(chain.begin(), at);
      for (std::size_t at : chain) path += " → " + frontends[at].config.name;
    }
    reported.push_back(e.server);
    const FrontendDraft& from = frontends[e.from];
    const FrontendDraft& to = frontends[e.to];
    const std::string where = to.config.listen[e.listen].toString() + ", " + lineCol(to.listen_pos[e.listen]);
    const std::string message =
        e.to == e.from
            ? "server " + quoted(e.server->config.text) + " is frontend " + from.config.name +
                  "'s own listen address (" + where + "), and " + from.config.name +
                  " sends to this backend: every datagram would come back to udpx and loop forever"
            : "server " + quoted(e.server->config.text) + " is a listen address of frontend " + to.config.name +
                  " (" + where + "), whose datagrams come back to this backend (frontend " + from.config.name +
                  " → " + to.config.name + path + "): every datagram would loop forever";
    r.error(e.server->config.pos, e.server->path, message,
            "name the real server's address and port; a udpx frontend cannot be a server of its own backend");
  }
}

}  // namespace udpx

// The configuration diff: sorted merges by name (frontends, backends, the servers of a backend).
#include "app/reload_diff.h"

#include <algorithm>
#include <functional>

namespace udpx {
namespace {

// Walks two lists sorted by key at once, as chrony's reload_source_dirs does: a key only on the
// left is removed, only on the right added, on both kept (and then compared).
template <typename T, typename Key, typename OnRemoved, typename OnAdded, typename OnBoth>
void mergeByKey(const std::vector<T>& before, const std::vector<T>& after, Key key, OnRemoved removed, OnAdded added,
                OnBoth both) {
  std::vector<const T*> a, b;
  for (const T& x : before) a.push_back(&x);
  for (const T& x : after) b.push_back(&x);
  const auto less = [&](const T* l, const T* r) { return key(*l) < key(*r); };
  std::stable_sort(a.begin(), a.end(), less);
  std::stable_sort(b.begin(), b.end(), less);
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && key(*a[i]) < key(*b[j]))) {
      removed(*a[i++]);
    } else if (i == a.size() || key(*b[j]) < key(*a[i])) {
      added(*b[j++]);
    } else {
      both(*a[i++], *b[j++]);
    }
  }
}

std::string cidrs(const std::vector<Cidr>& list) {
  std::string s;
  for (const Cidr& c : list) s += c.toString() + ",";
  return s;
}

bool sameProbe(const ProbeSpec& a, const ProbeSpec& b) {
  return a.type == b.type && a.query == b.query && a.send == b.send && a.expect == b.expect;
}

bool sameHealth(const HealthConfig& a, const HealthConfig& b) {
  return sameProbe(a.probe, b.probe) && a.interval == b.interval && a.timeout == b.timeout && a.rise == b.rise &&
         a.fall == b.fall;
}

std::vector<std::string> frontendSettings(const FrontendConfig& a, const FrontendConfig& b) {
  std::vector<std::string> out;
  if (a.listen != b.listen) out.emplace_back("listen");
  if (a.preset != b.preset) out.emplace_back("preset");
  if (a.backend != b.backend) out.emplace_back("backend");
  if (cidrs(a.allow) != cidrs(b.allow)) out.emplace_back("allow");
  if (a.session_timeout != b.session_timeout) out.emplace_back("session_timeout");
  if (a.max_sessions != b.max_sessions) out.emplace_back("max_sessions");
  if (a.responses != b.responses) out.emplace_back("responses");
  if (a.max_datagram != b.max_datagram) out.emplace_back("max_datagram");
  if (a.max_sessions_per_client != b.max_sessions_per_client) out.emplace_back("max_sessions_per_client");
  if (a.upstream_sockets != b.upstream_sockets) out.emplace_back("upstream_sockets");
  if (a.upstream_pool_sockets != b.upstream_pool_sockets) out.emplace_back("upstream_pool_sockets");
  if (!(a.rate == b.rate)) out.emplace_back("rate limits");
  if (a.tcp != b.tcp) out.emplace_back("tcp");
  if (a.tcp_max_connections != b.tcp_max_connections || a.tcp_max_per_client != b.tcp_max_per_client ||
      a.tcp_idle_timeout != b.tcp_idle_timeout) {
    out.emplace_back("tcp limits");
  }
  return out;
}

std::vector<std::string> backendSettings(const BackendConfig& a, const BackendConfig& b) {
  std::vector<std::string> out;
  if (a.balance != b.balance) out.emplace_back("balance");
  if (a.fail_timeout != b.fail_timeout) out.emplace_back("fail_timeout");
  if (!sameHealth(a.health, b.health)) out.emplace_back("health");
  if (a.on_all_down != b.on_all_down) out.emplace_back("on_all_down");
  if (a.resolve_min != b.resolve_min || a.resolve_max != b.resolve_max) out.emplace_back("resolve");
  return out;
}

ServerDiff diffServers(const BackendConfig& a, const BackendConfig& b) {
  ServerDiff d;
  mergeByKey(
      a.servers, b.servers, serverKey, [&](const ServerConfig& s) { d.removed.push_back(serverKey(s)); },
      [&](const ServerConfig& s) { d.added.push_back(&s); },
      [&](const ServerConfig& s, const ServerConfig&) { d.kept.push_back(serverKey(s)); });
  return d;
}

std::string plural(std::size_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

std::string joined(const std::vector<std::string>& items) {
  std::string s;
  for (const std::string& i : items) s += (s.empty() ? "" : ", ") + i;
  return s;
}

}  // namespace

std::string serverKey(const ServerConfig& sc) {
  if (sc.literal) return sc.literal->toString();
  return sc.host + ":" + std::to_string(sc.port);
}

bool FrontendDiff::changed(const char* key) const {
  return std::find(settings.begin(), settings.end(), key) != settings.end();
}

ConfigDiff diffConfigs(const ReloadableConfig& before, const ReloadableConfig& after) {
  ConfigDiff d;
  const auto name = [](const auto& x) -> const std::string& { return x.name; };
  mergeByKey(
      before.frontends, after.frontends, name,
      [&](const FrontendConfig& f) { d.frontends.push_back({f.name, Change::Removed, {}, &f, nullptr}); },
      [&](const FrontendConfig& f) { d.frontends.push_back({f.name, Change::Added, {}, nullptr, &f}); },
      [&](const FrontendConfig& a, const FrontendConfig& b) {
        auto settings = frontendSettings(a, b);
        const Change c = settings.empty() ? Change::Kept : Change::Changed;
        d.frontends.push_back({a.name, c, std::move(settings), &a, &b});
      });
  mergeByKey(
      before.backends, after.backends, name,
      [&](const BackendConfig& b) { d.backends.push_back({b.name, Change::Removed, {}, {}, &b, nullptr}); },
      [&](const BackendConfig& b) { d.backends.push_back({b.name, Change::Added, {}, {}, nullptr, &b}); },
      [&](const BackendConfig& a, const BackendConfig& b) {
        BackendDiff bd{a.name, Change::Kept, diffServers(a, b), backendSettings(a, b), &a, &b};
        if (!bd.settings.empty() || !bd.servers.added.empty() || !bd.servers.removed.empty()) {
          bd.change = Change::Changed;
        }
        d.backends.push_back(std::move(bd));
      });
  if (before.global.log_level != after.global.log_level) d.global.emplace_back("log_level");
  if (before.global.max_sessions != after.global.max_sessions) d.global.emplace_back("max_sessions");
  if (before.global.resolvers != after.global.resolvers) d.global.emplace_back("resolvers");
  if (before.global.status != after.global.status) d.global.emplace_back("status");
  const auto& ma = before.global.metrics;
  const auto& mb = after.global.metrics;
  if (ma.has_value() != mb.has_value() || (ma && !(*ma == *mb))) d.global.emplace_back("metrics");
  return d;
}

bool ConfigDiff::empty() const noexcept {
  const auto kept = [](const auto& x) { return x.change == Change::Kept; };
  return global.empty() && std::all_of(frontends.begin(), frontends.end(), kept) &&
         std::all_of(backends.begin(), backends.end(), kept);
}

std::string ConfigDiff::summary() const {
  std::vector<std::string> parts;
  const auto namesOf = [](const auto& list, Change c) {
    std::vector<std::string> names;
    for (const auto& x : list) {
      if (x.change == c) names.push_back(x.name);
    }
    return names;
  };
  const auto counted = [&](const auto& list, Change c, const char* sign, const char* word) {
    const std::vector<std::string> names = namesOf(list, c);
    if (!names.empty()) parts.push_back(sign + plural(names.size(), word) + " (" + joined(names) + ")");
  };
  counted(frontends, Change::Added, "+", "frontend");
  counted(frontends, Change::Removed, "-", "frontend");
  for (const FrontendDiff& f : frontends) {
    if (f.change == Change::Changed) parts.push_back("frontend " + f.name + ": " + joined(f.settings) + " changed");
  }
  counted(backends, Change::Added, "+", "backend");
  counted(backends, Change::Removed, "-", "backend");
  for (const BackendDiff& b : backends) {
    if (b.change != Change::Changed) continue;
    std::vector<std::string> what;
    if (!b.servers.added.empty()) what.push_back(plural(b.servers.added.size(), "server") + " added");
    if (!b.servers.removed.empty()) what.push_back(std::to_string(b.servers.removed.size()) + " draining");
    if (!b.settings.empty()) what.push_back(joined(b.settings) + " changed");
    parts.push_back("backend " + b.name + ": " + joined(what));
  }
  if (!global.empty()) parts.push_back("global: " + joined(global) + " changed");
  return parts.empty() ? "no change" : joined(parts);
}

}  // namespace udpx

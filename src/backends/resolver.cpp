// Resolver: evdns A and AAAA queries per host name, merged into one address set, applied to
// the backend; re-resolution at the answer's TTL within resolve_min/resolve_max.
#include "backends/resolver.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "backends/backend.h"
#include "base/clock.h"
#include "base/log.h"

namespace udpx {
namespace {

// evdns asks each resolver this long, this often, before a name fails for this round.
constexpr const char* kTimeoutSeconds = "2";
constexpr const char* kAttempts = "2";

std::string lowerCase(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string joinAddresses(const std::vector<SockAddr>& v) {
  std::string out;
  for (const SockAddr& a : v) out += (out.empty() ? "" : ", ") + a.ipString();
  return out.empty() ? "nothing" : out;
}

}  // namespace

std::map<std::string, std::vector<SockAddr>> parseHosts(std::string_view text) {
  std::map<std::string, std::vector<SockAddr>> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string ip;
    if (!(words >> ip)) continue;
    const auto addr = SockAddr::parseIp(ip, 0);
    if (!addr) continue;
    std::string name;
    while (words >> name) {
      auto& list = out[lowerCase(name)];
      if (std::find(list.begin(), list.end(), *addr) == list.end()) list.push_back(*addr);
    }
  }
  return out;
}

Resolver::Resolver(event_base* base, const std::vector<SockAddr>& resolvers, const std::string& hosts_file)
    : base_(base) {
  // evdns' own chatter ("Nameserver ... has failed") goes to the debug log, not raw stderr:
  // what matters (a name that does not resolve) is reported once per change by finish().
  evdns_set_log_fn([](int, const char* msg) { LOG_DEBUG("evdns: %s", msg); });
  // NOTE: DISABLE_WHEN_INACTIVE: evdns' own events must not keep the loop alive by themselves.
  dns_ = evdns_base_new(base_, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
  if (dns_ == nullptr) throw std::runtime_error("cannot set up the DNS resolver (evdns)");
  if (!resolvers.empty()) {
    source_ = "global.resolvers (";
    for (const SockAddr& r : resolvers) {
      source_ += (source_.back() == '(' ? "" : ", ") + r.toString();
      if (evdns_base_nameserver_sockaddr_add(dns_, r.get(), r.length(), 0) != 0) {
        warnings_.push_back("cannot use resolver " + r.toString() + " from global.resolvers");
      }
    }
    source_ += ")";
  } else {
    source_ = "/etc/resolv.conf";
    const int rc = evdns_base_resolv_conf_parse(dns_, DNS_OPTIONS_ALL & ~DNS_OPTION_HOSTSFILE, "/etc/resolv.conf");
    if (rc != 0) {
      warnings_.push_back(rc == 6 ? "/etc/resolv.conf lists no nameserver: asking 127.0.0.1"
                                  : "cannot read /etc/resolv.conf (error " + std::to_string(rc) +
                                        "): asking 127.0.0.1; set global.resolvers to choose resolvers");
    }
  }
  evdns_base_set_option(dns_, "timeout:", kTimeoutSeconds);
  evdns_base_set_option(dns_, "attempts:", kAttempts);
  std::ifstream f(hosts_file);
  if (f) {
    std::stringstream text;
    text << f.rdbuf();
    hosts_ = parseHosts(text.str());
  }
}

Resolver::~Resolver() {
  for (auto& n : names_) n->timer.reset();
  // Pending requests are dropped without calling back: the names go away with us.
  if (dns_ != nullptr) evdns_base_free(dns_, 0);
}

void Resolver::watch(Backend& backend, const ServerConfig& sc) {
  auto n = std::make_unique<Name>();
  n->owner = this;
  n->backend = &backend;
  n->host = sc.host;
  n->origin = sc.text;
  n->port = sc.port;
  n->timer.reset(evtimer_new(base_, &Resolver::onTimer, n.get()));
  if (!n->timer) throw std::runtime_error("cannot create a resolver timer");
  if (auto it = hosts_.find(lowerCase(sc.host)); it != hosts_.end()) {
    n->from_hosts = true;
    for (SockAddr a : it->second) {
      a.setPort(sc.port);
      n->addresses.push_back(a);
    }
  }
  names_.push_back(std::move(n));
}

void Resolver::start() {
  const TimePoint now = Clock::now();
  for (auto& n : names_) {
    if (n->from_hosts) {
      n->settled = true;
      n->resolved_unix_ms = unixMillisNow();
      n->backend->applyAddresses(n->origin, n->addresses, false, now);
      LOG_INFO("backend \"%s\": %s is %s (from /etc/hosts; not re-resolved)", n->backend->name().c_str(),
               n->host.c_str(), joinAddresses(n->addresses).c_str());
      continue;
    }
    query(*n);
  }
}

bool Resolver::settled() const noexcept {
  return std::all_of(names_.begin(), names_.end(), [](const auto& n) { return n->settled; });
}

void Resolver::schedule(Name& n, milliseconds delay) noexcept {
  n.next = Clock::now() + delay;
  const timeval tv{static_cast<time_t>(delay.count() / 1000), static_cast<suseconds_t>((delay.count() % 1000) * 1000)};
  evtimer_add(n.timer.get(), &tv);
}

void Resolver::onTimer(evutil_socket_t, short, void* arg) noexcept {
  auto* n = static_cast<Name*>(arg);
  n->owner->query(*n);
}

void Resolver::query(Name& n) noexcept {
  if (n.pending > 0) return;
  n.got.clear();
  n.err4 = n.err6 = 0;
  n.ttl4 = n.ttl6 = 0;
  n.pending = 2;
  // NOTE: evdns may call back before returning (e.g. no nameserver at all), so the count
  // is set before either request is made.
  n.req4 = evdns_base_resolve_ipv4(dns_, n.host.c_str(), 0, &Resolver::onAnswer4, &n);
  if (n.req4 == nullptr && n.pending == 2) {
    n.err4 = DNS_ERR_UNKNOWN;
    --n.pending;
  }
  n.req6 = evdns_base_resolve_ipv6(dns_, n.host.c_str(), 0, &Resolver::onAnswer6, &n);
  if (n.req6 == nullptr && n.pending > 0 && n.err6 == 0) {
    n.err6 = DNS_ERR_UNKNOWN;
    if (--n.pending == 0) finish(n);
  }
}

void Resolver::onAnswer4(int result, char type, int count, int ttl, void* addresses, void* arg) noexcept {
  auto* n = static_cast<Name*>(arg);
  n->owner->answered(*n, false, result, type, count, ttl, addresses);
}

void Resolver::onAnswer6(int result, char type, int count, int ttl, void* addresses, void* arg) noexcept {
  auto* n = static_cast<Name*>(arg);
  n->owner->answered(*n, true, result, type, count, ttl, addresses);
}

void Resolver::answered(Name& n, bool v6, int result, char type, int count, int ttl, void* addresses) noexcept {
  (v6 ? n.req6 : n.req4) = nullptr;
  (v6 ? n.err6 : n.err4) = result;
  if (result == DNS_ERR_NONE && count > 0) {
    (v6 ? n.ttl6 : n.ttl4) = ttl < 0 ? 0 : static_cast<std::uint32_t>(ttl);
    try {
      for (int i = 0; i < count; ++i) {
        SockAddr a;
        if (type == DNS_IPv4_A && !v6) {
          sockaddr_in sin{};
          sin.sin_family = AF_INET;
          sin.sin_addr.s_addr = static_cast<const std::uint32_t*>(addresses)[i];
          a = SockAddr(reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
        } else if (type == DNS_IPv6_AAAA && v6) {
          sockaddr_in6 sin6{};
          sin6.sin6_family = AF_INET6;
          sin6.sin6_addr = static_cast<const in6_addr*>(addresses)[i];
          a = SockAddr(reinterpret_cast<const sockaddr*>(&sin6), sizeof sin6);
        } else {
          continue;
        }
        a.setPort(n.port);
        if (std::find(n.got.begin(), n.got.end(), a) == n.got.end()) n.got.push_back(a);
      }
    } catch (...) {
    }
  }
  if (--n.pending == 0) finish(n);
}

void Resolver::finish(Name& n) noexcept {
  const BackendConfig& bc = n.backend->config();
  const TimePoint now = Clock::now();
  const bool first = !n.settled;
  n.settled = true;
  try {
    if (!n.got.empty()) {
      // The shorter TTL of the two answers that had records.
      std::uint32_t ttl = UINT32_MAX;
      if (n.err4 == DNS_ERR_NONE && n.ttl4 > 0) ttl = std::min(ttl, n.ttl4);
      if (n.err6 == DNS_ERR_NONE && n.ttl6 > 0) ttl = std::min(ttl, n.ttl6);
      if (ttl == UINT32_MAX) ttl = 0;
      n.ttl_s = ttl;
      std::sort(n.got.begin(), n.got.end(), [](const SockAddr& a, const SockAddr& b) { return a.toString() < b.toString(); });
      const bool changed = n.got != n.addresses;
      if (!n.error.empty()) {
        LOG_INFO("backend \"%s\": %s resolves again: %s", bc.name.c_str(), n.host.c_str(), joinAddresses(n.got).c_str());
      } else if (changed) {
        LOG_INFO("backend \"%s\": %s is %s (TTL %us)%s%s", bc.name.c_str(), n.host.c_str(),
                 joinAddresses(n.got).c_str(), ttl, first ? "" : "; was ",
                 first ? "" : joinAddresses(n.addresses).c_str());
      }
      n.error.clear();
      n.addresses = n.got;
      n.resolved_unix_ms = unixMillisNow();
      if (changed) n.backend->applyAddresses(n.origin, n.addresses, !first, now);
      const milliseconds wait = std::clamp(milliseconds(std::int64_t{ttl} * 1000), bc.resolve_min, bc.resolve_max);
      schedule(n, wait);
      return;
    }
    std::string why;
    if (n.err4 == DNS_ERR_NOTEXIST || n.err6 == DNS_ERR_NOTEXIST) {
      why = "the name does not exist (NXDOMAIN)";
    } else if ((n.err4 == DNS_ERR_NONE || n.err4 == DNS_ERR_NODATA) && (n.err6 == DNS_ERR_NONE || n.err6 == DNS_ERR_NODATA)) {
      why = "it has no address records";
    } else {
      why = evdns_err_to_string(n.err4 != DNS_ERR_NONE && n.err4 != DNS_ERR_NODATA ? n.err4 : n.err6);
    }
    const std::string message = "cannot resolve " + n.host + ": " + why;
    if (message != n.error) {
      if (n.addresses.empty()) {
        LOG_ERROR("backend \"%s\": %s — check %s; trying again every %lld ms", bc.name.c_str(), message.c_str(),
                  source_.c_str(), static_cast<long long>(bc.resolve_min.count()));
      } else {
        LOG_WARN("backend \"%s\": %s — keeping its last addresses (%s); check %s; trying again every %lld ms",
                 bc.name.c_str(), message.c_str(), joinAddresses(n.addresses).c_str(), source_.c_str(),
                 static_cast<long long>(bc.resolve_min.count()));
      }
    }
    n.error = message;
  } catch (...) {
  }
  schedule(n, bc.resolve_min);
}

}  // namespace udpx

// Resolver: evdns A and AAAA queries per host name, merged into one address set, applied to
// the backend; re-resolution at the answer's TTL within resolve_min/resolve_max.
#include "backends/resolver.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <event2/util.h>

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

ResolvConf parseResolvConf(std::string_view text) {
  ResolvConf out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (auto hash = line.find_first_of("#;"); hash != std::string::npos) line.resize(hash);
    std::istringstream words(line);
    std::string key;
    if (!(words >> key)) continue;
    std::string word;
    if (key == "nameserver") {
      if (words >> word) {
        if (auto a = SockAddr::parseIp(word, 53)) out.nameservers.push_back(*a);
      }
    } else if (key == "search" || key == "domain") {
      // The last search or domain line wins, as in resolv.conf(5).
      out.search.clear();
      while (words >> word) {
        if (word != ".") out.search.push_back(word);
      }
    } else if (key == "options") {
      while (words >> word) {
        if (word.rfind("ndots:", 0) == 0) {
          try {
            out.ndots = std::clamp(std::stoi(word.substr(6)), 0, 15);
          } catch (...) {
          }
        }
      }
    }
  }
  return out;
}

namespace {

// A file read whole at start-up, bounded (hosts and resolv.conf are small). False: unreadable.
bool readSmallFile(const std::string& path, std::string& text) {
  std::ifstream f(path);
  if (!f) return false;
  char buf[4096];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(f.gcount()));
    if (text.size() > (std::size_t{1} << 20)) break;
  }
  return true;
}

std::string describeResolvers(const std::vector<SockAddr>& resolvers, const std::string& resolv_conf) {
  if (resolvers.empty()) return resolv_conf;
  std::string s = "global.resolvers (";
  for (const SockAddr& r : resolvers) s += (s.back() == '(' ? "" : ", ") + r.toString();
  return s + ")";
}

}  // namespace

Resolver::Resolver(event_base* base, const std::vector<SockAddr>& resolvers, const std::string& hosts_file,
                   const std::string& resolv_conf)
    : base_(base), resolvers_(resolvers), resolv_conf_(resolv_conf) {
  // evdns' own chatter ("Nameserver ... has failed") goes to the debug log, not raw stderr:
  // what matters (a name that does not resolve) is reported once per change by finish().
  evdns_set_log_fn([](int, const char* msg) { LOG_DEBUG("evdns: %s", msg); });
  // NOTE: evdns seeds its transaction ids the first time a base is made; seeded now, it never
  // needs a file later (a base may be made on the loop, inside the sandbox, by a reload).
  if (evutil_secure_rng_init() != 0) throw std::runtime_error("cannot seed the DNS resolver's random numbers");
  reap_ev_.reset(evtimer_new(base_, &Resolver::onReap, this));
  if (!reap_ev_) throw std::runtime_error("cannot create a resolver timer");
  std::string text;
  if (readSmallFile(resolv_conf_, text)) {
    system_ = parseResolvConf(text);
    if (system_.nameservers.empty()) system_warning_ = resolv_conf_ + " lists no nameserver: asking 127.0.0.1";
  } else {
    system_warning_ = "cannot read " + resolv_conf_ + ": asking 127.0.0.1; set global.resolvers to choose resolvers";
  }
  source_ = describeResolvers(resolvers_, resolv_conf_);
  std::string hosts;
  if (readSmallFile(hosts_file, hosts)) hosts_ = parseHosts(hosts);
}

Resolver::~Resolver() {
  for (auto& n : names_) n->timer.reset();
  // Pending requests are dropped without calling back: the names go away with us.
  for (auto& d : bases_) evdns_base_free(d->base, 0);
}

Resolver::Dns* Resolver::currentDns() noexcept {
  if (!bases_.empty() && !bases_.back()->retired) return bases_.back().get();
  // NOTE: DISABLE_WHEN_INACTIVE: evdns' own events must not keep the loop alive by themselves.
  evdns_base* b = evdns_base_new(base_, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
  if (b == nullptr) {
    LOG_ERROR("cannot set up the DNS resolver (evdns): host names are not resolved");
    return nullptr;
  }
  try {
    auto d = std::make_unique<Dns>();
    d->base = b;
    const bool own = !resolvers_.empty();
    std::vector<SockAddr> servers = own ? resolvers_ : system_.nameservers;
    if (!own && !system_warning_.empty()) {
      warnings_.push_back(system_warning_);
      LOG_WARN("%s", system_warning_.c_str());
    }
    if (servers.empty()) servers.push_back(*SockAddr::parseIp("127.0.0.1", 53));
    for (const SockAddr& r : servers) {
      if (evdns_base_nameserver_sockaddr_add(b, r.get(), r.length(), 0) != 0) {
        warnings_.push_back("cannot use resolver " + r.toString() + (own ? " from global.resolvers" : ""));
        LOG_WARN("%s", warnings_.back().c_str());
      }
    }
    if (!own) {
      for (const std::string& domain : system_.search) evdns_base_search_add(b, domain.c_str());
      if (system_.ndots >= 0) evdns_base_search_ndots_set(b, system_.ndots);
    }
    evdns_base_set_option(b, "timeout:", kTimeoutSeconds);
    evdns_base_set_option(b, "attempts:", kAttempts);
    bases_.push_back(std::move(d));
    return bases_.back().get();
  } catch (...) {
    evdns_base_free(b, 0);
    return nullptr;
  }
}

void Resolver::watch(Backend& backend, const ServerConfig& sc) {
  auto n = std::make_unique<Name>();
  n->owner = this;
  n->backend = &backend;
  n->host = sc.host;
  n->origin = sc.text;
  n->port = sc.port;
  n->added_later = started_;
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
  if (started_) begin(*names_.back());
}

void Resolver::begin(Name& n) {
  if (!n.from_hosts) {
    query(n);
    return;
  }
  n.settled = true;
  n.resolved_unix_ms = unixMillisNow();
  n.backend->applyAddresses(n.origin, n.addresses, probeFirst(n), Clock::now());
  LOG_INFO("backend \"%s\": %s is %s (from /etc/hosts; not re-resolved)", n.backend->name().c_str(), n.host.c_str(),
           joinAddresses(n.addresses).c_str());
}

bool Resolver::probeFirst(const Name& n) const noexcept {
  // A name a reload added is probed before use, like a new literal server, unless nothing else
  // of the backend can take the traffic (a reload never leaves a backend with nothing to use).
  return n.added_later && n.backend->inPool() > 0 && !n.backend->allDown();
}

void Resolver::unwatch(const Backend& backend, const std::string& origin) {
  for (auto it = names_.begin(); it != names_.end();) {
    Name& n = **it;
    if (n.backend != &backend || (!origin.empty() && n.origin != origin)) {
      ++it;
      continue;
    }
    n.timer.reset();
    n.backend = nullptr;
    if (n.pending > 0) {
      cancel(n);
      gone_.push_back(std::move(*it));
    }
    it = names_.erase(it);
  }
}

void Resolver::setResolvers(const std::vector<SockAddr>& resolvers) {
  if (resolvers == resolvers_) return;
  resolvers_ = resolvers;
  source_ = describeResolvers(resolvers_, resolv_conf_);
  if (!bases_.empty() && !bases_.back()->retired) {
    Dns& old = *bases_.back();
    old.retired = true;
    for (auto& n : names_) {
      if (n->pending > 0 && n->dns == &old) cancel(*n);
    }
    for (auto& n : gone_) {
      if (n->pending > 0 && n->dns == &old) cancel(*n);
    }
    if (old.in_flight == 0) reapSoon();
  }
  if (!started_) return;
  // The new resolvers are asked at once: the reload may have replaced resolvers that failed.
  for (auto& n : names_) {
    if (!n->from_hosts && n->pending == 0) query(*n);
  }
}

void Resolver::start() {
  started_ = true;
  for (auto& n : names_) begin(*n);
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

void Resolver::reapSoon() noexcept {
  const timeval now{0, 0};
  evtimer_add(reap_ev_.get(), &now);
}

void Resolver::onReap(evutil_socket_t, short, void* arg) noexcept {
  auto* r = static_cast<Resolver*>(arg);
  std::erase_if(r->gone_, [](const std::unique_ptr<Name>& n) { return n->pending == 0; });
  std::erase_if(r->bases_, [](const std::unique_ptr<Dns>& d) {
    if (!d->retired || d->in_flight > 0) return false;
    evdns_base_free(d->base, 0);
    return true;
  });
}

void Resolver::cancel(Name& n) noexcept {
  if (n.pending == 0 || n.dns == nullptr) return;
  n.cancelled = true;
  // NOTE: evdns calls back a cancelled request (DNS_ERR_CANCEL) later, from the loop; a request
  // whose answer is already on its way is not cancelled and calls back with it. Either way each
  // calls back once, and until then the name and its base must stay.
  if (n.in4 && n.req4 != nullptr) evdns_cancel_request(n.dns->base, n.req4);
  if (n.in6 && n.req6 != nullptr) evdns_cancel_request(n.dns->base, n.req6);
}

void Resolver::query(Name& n) noexcept {
  if (n.pending > 0 || n.backend == nullptr) return;
  n.got.clear();
  n.err4 = n.err6 = 0;
  n.ttl4 = n.ttl6 = 0;
  n.cancelled = false;
  Dns* d = currentDns();
  if (d == nullptr) {
    n.err4 = n.err6 = DNS_ERR_UNKNOWN;
    finish(n);
    return;
  }
  n.dns = d;
  n.pending = 2;
  // NOTE: evdns may call back before returning (e.g. no nameserver at all), so the count and
  // the in-flight marks are set before either request is made, and a returned handle is kept
  // only while its request is still in flight.
  n.in4 = true;
  ++d->in_flight;
  evdns_request* r4 = evdns_base_resolve_ipv4(d->base, n.host.c_str(), 0, &Resolver::onAnswer4, &n);
  if (r4 == nullptr && n.in4) {
    n.in4 = false;
    --d->in_flight;
    n.err4 = DNS_ERR_UNKNOWN;
    --n.pending;
  }
  n.req4 = n.in4 ? r4 : nullptr;
  n.in6 = true;
  ++d->in_flight;
  evdns_request* r6 = evdns_base_resolve_ipv6(d->base, n.host.c_str(), 0, &Resolver::onAnswer6, &n);
  if (r6 == nullptr && n.in6) {
    n.in6 = false;
    --d->in_flight;
    n.err6 = DNS_ERR_UNKNOWN;
    n.req6 = nullptr;
    if (--n.pending == 0) roundDone(n);
    return;
  }
  n.req6 = n.in6 ? r6 : nullptr;
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
  (v6 ? n.in6 : n.in4) = false;
  (v6 ? n.req6 : n.req4) = nullptr;
  if (n.dns != nullptr && --n.dns->in_flight == 0 && n.dns->retired) reapSoon();
  if (n.cancelled) {
    if (--n.pending == 0) roundDone(n);
    return;
  }
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
  if (--n.pending == 0) roundDone(n);
}

void Resolver::roundDone(Name& n) noexcept {
  n.dns = nullptr;
  if (n.backend == nullptr) {  // unwatched: freed outside this callback
    reapSoon();
    return;
  }
  if (n.cancelled) {  // the resolvers changed: ask the new ones
    n.cancelled = false;
    query(n);
    return;
  }
  finish(n);
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
      if (changed) n.backend->applyAddresses(n.origin, n.addresses, !first || probeFirst(n), now);
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

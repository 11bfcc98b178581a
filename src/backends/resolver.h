// Resolver: the host names of backend servers, resolved asynchronously with libevent's evdns on
// the shared event loop (no threads, no blocking getaddrinfo) and re-resolved when their TTL
// expires, bounded by resolve_min/resolve_max. Every address becomes a server of the backend;
// addresses that disappear are drained; a failed resolution keeps the last addresses. A reload
// may watch and unwatch names and change the resolvers on the running loop.
#pragma once

#include <event2/dns.h>
#include <event2/event.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "net/address.h"
#include "base/clock.h"
#include "config/config.h"
#include "net/event_ptr.h"

namespace udpx {

class Backend;

// Parses hosts(5) text: name (lower case) -> its addresses, in file order.
std::map<std::string, std::vector<SockAddr>> parseHosts(std::string_view text);

// What udpx takes from resolv.conf(5): nameservers (port 53), the search list (search, or
// domain) and options ndots. Anything else is ignored.
struct ResolvConf {
  std::vector<SockAddr> nameservers;
  std::vector<std::string> search;
  int ndots = -1;  // -1: not given
};
ResolvConf parseResolvConf(std::string_view text);

class Resolver {
 public:
  struct Dns;
  // One configured host name of one backend.
  struct Name {
    Resolver* owner = nullptr;
    Backend* backend = nullptr;           // nullptr once unwatched (waiting for its lookups to call back)
    std::string host;    // as written, without port
    std::string origin;  // the server entry as written ("pool.example.org:123")
    std::uint16_t port = 0;
    bool from_hosts = false;              // answered by /etc/hosts: fixed, never re-resolved
    bool added_later = false;             // watched by a reload: probed first if the backend has a usable server
    std::vector<SockAddr> addresses;      // the last known addresses (ports set)
    std::int64_t resolved_unix_ms = 0;    // when they were last confirmed (0: never)
    std::uint32_t ttl_s = 0;              // of the last answer
    std::string error;                    // why the last resolution failed ("" when it did not)
    bool settled = false;                 // has had a first answer or failure
    TimePoint next{};                     // next resolution
    // ---- in flight ----
    EventPtr timer;
    Dns* dns = nullptr;                   // the evdns base the lookups in flight went to
    evdns_request* req4 = nullptr;        // valid while in4 / in6
    evdns_request* req6 = nullptr;
    bool in4 = false, in6 = false;
    bool cancelled = false;               // the round in flight was cancelled: its answers are ignored
    int pending = 0;
    int err4 = 0, err6 = 0;
    std::uint32_t ttl4 = 0, ttl6 = 0;
    std::vector<SockAddr> got;
  };
  // One evdns base and the lookups still in flight on it. A base replaced by a reload
  // (setResolvers) is freed once each of its cancelled lookups has called back.
  struct Dns {
    evdns_base* base = nullptr;
    int in_flight = 0;
    bool retired = false;
  };

  // Reads everything it may need now (/etc/hosts, and /etc/resolv.conf in case a config
  // without global.resolvers has host names, now or after a reload), so nothing is opened or
  // read once the loop runs; resolv.conf's nameservers are asked only when a name is watched
  // and global.resolvers is not set. `hosts_file`, `resolv_conf`: for tests.
  Resolver(event_base* base, const std::vector<SockAddr>& resolvers, const std::string& hosts_file = "/etc/hosts",
           const std::string& resolv_conf = "/etc/resolv.conf");
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Watches the host name of `sc` for `backend`; once started, it is asked at once (a reload).
  void watch(Backend& backend, const ServerConfig& sc);
  // Stops watching the name `origin` (the entry as written) of `backend`, or every name of it
  // (an empty `origin`): no more lookups, the ones in flight are cancelled. The backend's
  // servers of it are the caller's (Backend::releaseOrigin).
  void unwatch(const Backend& backend, const std::string& origin = {});
  // A changed resolver list (a reload): lookups in flight on the old one are cancelled and
  // asked again of the new one; the old evdns base goes once they have called back.
  void setResolvers(const std::vector<SockAddr>& resolvers);
  // Sends the first queries.
  void start();
  // Every name has had its first answer (or failure).
  bool settled() const noexcept;

  // Where the answers come from, for messages: "/etc/resolv.conf" or "global.resolvers (...)".
  const std::string& source() const noexcept { return source_; }
  // Setup problems (an unreadable /etc/resolv.conf), also logged when they matter.
  const std::vector<std::string>& warnings() const noexcept { return warnings_; }
  const std::vector<std::unique_ptr<Name>>& names() const noexcept { return names_; }
  // evdns bases alive (the current one, if made, and replaced ones still waiting for callbacks);
  // unwatched names still waiting for theirs. For tests.
  std::size_t basesAlive() const noexcept { return bases_.size(); }
  std::size_t basesRetired() const noexcept {
    return static_cast<std::size_t>(std::count_if(bases_.begin(), bases_.end(), [](const auto& d) { return d->retired; }));
  }
  std::size_t namesLeaving() const noexcept { return gone_.size(); }

 private:
  static void onTimer(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onAnswer4(int result, char type, int count, int ttl, void* addresses, void* arg) noexcept;
  static void onAnswer6(int result, char type, int count, int ttl, void* addresses, void* arg) noexcept;
  static void onReap(evutil_socket_t fd, short what, void* arg) noexcept;
  // The current evdns base, made on first use from resolvers_ (or resolv.conf). nullptr: cannot.
  Dns* currentDns() noexcept;
  void cancel(Name& n) noexcept;
  void query(Name& n) noexcept;
  void answered(Name& n, bool v6, int result, char type, int count, int ttl, void* addresses) noexcept;
  void roundDone(Name& n) noexcept;
  void finish(Name& n) noexcept;
  void schedule(Name& n, milliseconds delay) noexcept;
  void reapSoon() noexcept;
  // The first resolution (or the hosts file) of a name: its addresses to the backend.
  void begin(Name& n);
  bool probeFirst(const Name& n) const noexcept;

  event_base* base_;
  std::vector<SockAddr> resolvers_;
  std::string resolv_conf_;
  ResolvConf system_;  // from resolv_conf_, read at construction
  std::string system_warning_;  // why resolv_conf_ gave no nameserver, logged when it is used
  std::string source_;
  std::vector<std::string> warnings_;
  std::map<std::string, std::vector<SockAddr>> hosts_;
  bool started_ = false;
  std::vector<std::unique_ptr<Dns>> bases_;  // the last one not retired is current
  std::vector<std::unique_ptr<Name>> names_;
  std::vector<std::unique_ptr<Name>> gone_;  // unwatched, lookups not yet called back
  // Frees retired bases and unwatched names outside evdns' callbacks.
  EventPtr reap_ev_;
};

}  // namespace udpx

// Resolver: the host names of backend servers, resolved asynchronously with libevent's evdns on
// the shared event loop (no threads, no blocking getaddrinfo) and re-resolved when their TTL
// expires, bounded by resolve_min/resolve_max. Every address becomes a server of the backend;
// addresses that disappear are drained; a failed resolution keeps the last addresses.
#pragma once

#include <event2/dns.h>
#include <event2/event.h>

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

class Resolver {
 public:
  // One configured host name of one backend.
  struct Name {
    Resolver* owner = nullptr;
    Backend* backend = nullptr;
    std::string host;    // as written, without port
    std::string origin;  // the server entry as written ("pool.example.org:123")
    std::uint16_t port = 0;
    bool from_hosts = false;              // answered by /etc/hosts: fixed, never re-resolved
    std::vector<SockAddr> addresses;      // the last known addresses (ports set)
    std::int64_t resolved_unix_ms = 0;    // when they were last confirmed (0: never)
    std::uint32_t ttl_s = 0;              // of the last answer
    std::string error;                    // why the last resolution failed ("" when it did not)
    bool settled = false;                 // has had a first answer or failure
    TimePoint next{};                     // next resolution
    // ---- in flight ----
    EventPtr timer;
    evdns_request* req4 = nullptr;
    evdns_request* req6 = nullptr;
    int pending = 0;
    int err4 = 0, err6 = 0;
    std::uint32_t ttl4 = 0, ttl6 = 0;
    std::vector<SockAddr> got;
  };

  // Reads its configuration now (global.resolvers, else /etc/resolv.conf; and /etc/hosts),
  // so nothing is opened or read once the loop runs. Throws std::runtime_error if evdns
  // cannot be set up. `hosts_file`: for tests.
  Resolver(event_base* base, const std::vector<SockAddr>& resolvers, const std::string& hosts_file = "/etc/hosts");
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Watches the host name of `sc` for `backend`.
  void watch(Backend& backend, const ServerConfig& sc);
  // Sends the first queries.
  void start();
  // Every name has had its first answer (or failure).
  bool settled() const noexcept;

  // Where the answers come from, for messages: "/etc/resolv.conf" or "global.resolvers (...)".
  const std::string& source() const noexcept { return source_; }
  // Setup problems (an unreadable /etc/resolv.conf), for the log.
  const std::vector<std::string>& warnings() const noexcept { return warnings_; }
  const std::vector<std::unique_ptr<Name>>& names() const noexcept { return names_; }

 private:
  static void onTimer(evutil_socket_t fd, short what, void* arg) noexcept;
  static void onAnswer4(int result, char type, int count, int ttl, void* addresses, void* arg) noexcept;
  static void onAnswer6(int result, char type, int count, int ttl, void* addresses, void* arg) noexcept;
  void query(Name& n) noexcept;
  void answered(Name& n, bool v6, int result, char type, int count, int ttl, void* addresses) noexcept;
  void finish(Name& n) noexcept;
  void schedule(Name& n, milliseconds delay) noexcept;

  event_base* base_;
  evdns_base* dns_ = nullptr;
  std::string source_;
  std::vector<std::string> warnings_;
  std::map<std::string, std::vector<SockAddr>> hosts_;
  std::vector<std::unique_ptr<Name>> names_;
};

}  // namespace udpx

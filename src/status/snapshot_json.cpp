// The status document written from a Snapshot and read back, each object's writer next to its
// reader so that a key changes in both or neither; counters' keys come from their declarations.
#include "status/snapshot_json.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string_view>
#include <type_traits>

#include "base/counter.h"

namespace udpx {
namespace {

using json::quote;

// Writes one JSON object member by member; it is closed when the writer goes.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }
  ~ObjectWriter() { out_ += '}'; }
  ObjectWriter(const ObjectWriter&) = delete;
  ObjectWriter& operator=(const ObjectWriter&) = delete;
  // Starts a member; the caller appends its value to the returned text.
  std::string& key(std::string_view k) {
    if (!first_) out_ += ", ";
    first_ = false;
    out_ += quote(k);
    out_ += ": ";
    return out_;
  }
  void str(std::string_view k, std::string_view v) { key(k) += quote(v); }
  void num(std::string_view k, std::uint64_t v) { key(k) += std::to_string(v); }
  void integer(std::string_view k, std::int64_t v) { key(k) += std::to_string(v); }
  void flag(std::string_view k, bool v) { key(k) += v ? "true" : "false"; }
  // A member that is an object, filled by `fill(ObjectWriter&)`.
  template <class Fill>
  void object(std::string_view k, Fill&& fill) {
    ObjectWriter o(key(k));
    fill(o);
  }

 private:
  std::string& out_;
  bool first_ = true;
};

// The counters of `list` that live in the sub-object `group` of their thing.
template <class Stats>
void writeCounters(ObjectWriter& w, const std::type_identity_t<Stats>& s, std::span<const Counter<Stats>> list,
                   std::string_view group) {
  for (const Counter<Stats>& c : list) {
    if (c.group() == group) w.num(c.key(), s.*c.member);
  }
}

void writeStrings(ObjectWriter& w, std::string_view k, const std::vector<std::string>& v) {
  std::string& out = w.key(k);
  out += '[';
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + quote(v[i]);
  out += ']';
}

// JSON has no infinity or NaN: those are written as null (a document read back may hold 1e400,
// found by tests/fuzz/status_json_fuzz.cpp: "last_rtt_seconds": 0.01e400002 came back as "inf").
// The shortest text that reads back as the same double: "%.6f" into 32 bytes cut 3.3e30 to 31
// digits without its point, a different number (found by the same target's long run).
std::string real(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[64];
  const auto done = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, done.ptr);
}

// An object of things keyed by their names ("frontends": {"lan": {...}}), each written by the
// write() for its type below.
template <class Thing>
void writeKeyed(ObjectWriter& w, std::string_view k, const std::vector<Thing>& things, std::string Thing::*name) {
  w.object(k, [&](ObjectWriter& all) {
    for (const Thing& t : things) all.object(t.*name, [&](ObjectWriter& one) { write(one, t); });
  });
}

// ---- reading ----

// Numbers are clamped to the type's range (NaN reads as 0): a document is any text that reached
// the socket, and a double outside the range converts to an integer undefined (found by
// tests/fuzz/status_json_fuzz.cpp: "received": 1e400).
constexpr double kTwo63 = 9223372036854775808.0;
std::uint64_t count(const json::Value& v) {
  const double d = v.num();
  if (!(d > 0)) return 0;
  return d >= 2 * kTwo63 ? UINT64_MAX : static_cast<std::uint64_t>(d);
}
std::int64_t integer(const json::Value& v) {
  const double d = v.num();
  if (d != d) return 0;
  if (d >= kTwo63) return INT64_MAX;
  return d <= -kTwo63 ? INT64_MIN : static_cast<std::int64_t>(d);
}

template <class Stats>
void readCounters(const json::Value& thing, std::type_identity_t<Stats>& s, std::span<const Counter<Stats>> list) {
  for (const Counter<Stats>& c : list) {
    s.*c.member = count(c.group().empty() ? thing[c.key()] : thing[c.group()][c.key()]);
  }
}

std::vector<std::string> strings(const json::Value& v) {
  std::vector<std::string> out;
  for (const json::Value& e : v.array) out.push_back(e.str());
  return out;
}

std::optional<std::int64_t> optionalInteger(const json::Value& v) {
  if (v.type != json::Value::Type::Number) return std::nullopt;
  return integer(v);
}

// ---- frontends ----

void write(ObjectWriter& w, const FrontendSnapshot& f) {
  writeCounters<FrontendStats>(w, f.counters, kFrontendTrafficCounters, "");
  w.object(kDropCounters.json, [&](ObjectWriter& dropped) {
    for (std::size_t i = 0; i < kDropCount; ++i) dropped.num(dropName(static_cast<Drop>(i)), f.counters.dropped[i]);
  });
  w.object("sessions", [&](ObjectWriter& sessions) {
    sessions.num("active", f.sessions_active);
    sessions.str("upstream_sockets", f.upstream_sockets);
    sessions.num("in_flight", f.in_flight);
    writeCounters<FrontendStats>(sessions, f.counters, kFrontendSessionCounters, "sessions");
    sessions.num("max", f.sessions_max);
  });
  if (f.tcp) {
    w.object("tcp", [&](ObjectWriter& tcp) {
      tcp.num("open", f.tcp_open);
      tcp.num("max", f.tcp_max);
      tcp.num("max_per_client", f.tcp_max_per_client);
      writeCounters<TcpStats>(tcp, f.tcp_counters, kTcpCounters, "tcp");
    });
  }
  w.str("preset", f.preset);
  w.str("backend", f.backend);
  writeStrings(w, "listen", f.listen);
  w.flag("table_full", f.table_full);
  // The most recent clients: "recent" counts those seen in the last 10 minutes; "list" (status
  // socket, /status) has each, most recent first, with its drops by reason (non-zero ones).
  w.object("clients", [&](ObjectWriter& c) {
    c.num("recent", f.clients_recent);
    c.flag("table_full", f.clients_table_full);
    if (f.clients.empty()) return;
    std::string& list = c.key("list");
    list += '[';
    for (std::size_t i = 0; i < f.clients.size(); ++i) {
      if (i) list += ", ";
      const ClientSnapshot& one = f.clients[i];
      ObjectWriter o(list);
      o.str("address", one.address);
      o.num("requests", one.requests);
      o.num("answers", one.answers);
      o.num("unanswered", one.unanswered);
      o.object("dropped", [&](ObjectWriter& d) {
        for (std::size_t k = 0; k < kDropCount; ++k) {
          if (one.dropped[k] > 0) d.num(dropName(static_cast<Drop>(k)), one.dropped[k]);
        }
      });
      o.integer("last_seen_unix_ms", one.last_seen_unix_ms);
    }
    list += ']';
  });
  // The most rate-limited sources: addresses, then prefixes.
  if (f.rate_limited.empty()) return;
  std::string& limited = w.key("rate_limited");
  limited += '[';
  for (std::size_t i = 0; i < f.rate_limited.size(); ++i) {
    if (i) limited += ", ";
    const LimitedSnapshot& one = f.rate_limited[i];
    ObjectWriter o(limited);
    o.str("source", one.source);
    o.flag("prefix", one.prefix);
    o.num("limited", one.limited);
    o.integer("last_unix_ms", one.last_unix_ms);
  }
  limited += ']';
}

FrontendSnapshot readFrontend(const std::string& name, const json::Value& v) {
  FrontendSnapshot f;
  f.name = name;
  readCounters<FrontendStats>(v, f.counters, kFrontendTrafficCounters);
  for (const auto& [reason, n] : v[kDropCounters.json].object) {
    for (std::size_t i = 0; i < kDropCount; ++i) {
      if (dropName(static_cast<Drop>(i)) == reason) f.counters.dropped[i] = count(n);
    }
  }
  readCounters<FrontendStats>(v, f.counters, kFrontendSessionCounters);
  f.sessions_active = count(v["sessions"]["active"]);
  f.upstream_sockets = v["sessions"]["upstream_sockets"].str();
  f.in_flight = count(v["sessions"]["in_flight"]);
  f.sessions_max = count(v["sessions"]["max"]);
  const json::Value& tcp = v["tcp"];
  f.tcp = tcp.type == json::Value::Type::Object;
  if (f.tcp) {
    readCounters<TcpStats>(v, f.tcp_counters, kTcpCounters);
    f.tcp_open = count(tcp["open"]);
    f.tcp_max = count(tcp["max"]);
    f.tcp_max_per_client = count(tcp["max_per_client"]);
  }
  f.preset = v["preset"].str();
  f.backend = v["backend"].str();
  f.listen = strings(v["listen"]);
  f.table_full = v["table_full"].flag();
  const json::Value& c = v["clients"];
  f.clients_recent = count(c["recent"]);
  f.clients_table_full = c["table_full"].flag();
  for (const json::Value& one : c["list"].array) {
    ClientSnapshot cs;
    cs.address = one["address"].str();
    cs.requests = count(one["requests"]);
    cs.answers = count(one["answers"]);
    cs.unanswered = count(one["unanswered"]);
    for (const auto& [reason, n] : one["dropped"].object) {
      for (std::size_t i = 0; i < kDropCount; ++i) {
        if (dropName(static_cast<Drop>(i)) == reason) cs.dropped[i] = count(n);
      }
    }
    cs.last_seen_unix_ms = integer(one["last_seen_unix_ms"]);
    f.clients.push_back(std::move(cs));
  }
  for (const json::Value& one : v["rate_limited"].array) {
    LimitedSnapshot l;
    l.source = one["source"].str();
    l.prefix = one["prefix"].flag();
    l.limited = count(one["limited"]);
    l.last_unix_ms = integer(one["last_unix_ms"]);
    f.rate_limited.push_back(std::move(l));
  }
  return f;
}

// ---- servers and names ----

void write(ObjectWriter& w, const ServerSnapshot& s) {
  writeCounters<ServerStats>(w, s.counters, kServerCounters, "");
  w.flag("down", s.down);
  w.str("state", s.state);
  w.str("origin", s.origin);
  w.num("active_sessions", s.active_sessions);
  w.num("in_flight", s.in_flight);
  w.num("pool_sockets", s.pool_sockets);
  w.object("health", [&](ObjectWriter& h) {
    h.flag("up", s.up);
    h.integer("since_unix_ms", s.health.since_unix_ms);
    writeCounters<ServerHealthCounters>(h, s.health, kServerHealthCounters, "health");
    h.num("consecutive_failures", s.consecutive_failures);
    h.str("last_probe", s.last_probe);
    h.key("last_rtt_seconds") += s.health.last_rtt_seconds < 0 ? std::string("null") : real(s.health.last_rtt_seconds);
    if (s.probe_interval_ms) h.integer("probe_interval_ms", *s.probe_interval_ms);
    h.str("reason", s.health.reason);
    h.str("hint", s.health.hint);
  });
  if (!s.tcp.empty()) {
    w.object("tcp", [&](ObjectWriter& t) {
      t.str("state", s.tcp);
      t.str("reason", s.tcp_reason);
    });
  }
}

ServerSnapshot readServer(const std::string& label, const json::Value& v) {
  ServerSnapshot s;
  s.label = label;
  readCounters<ServerStats>(v, s.counters, kServerCounters);
  s.down = v["down"].flag();
  s.state = v["state"].str();
  s.origin = v["origin"].str();
  s.active_sessions = count(v["active_sessions"]);
  s.in_flight = count(v["in_flight"]);
  s.pool_sockets = count(v["pool_sockets"]);
  const json::Value& h = v["health"];
  s.up = h["up"].flag();
  s.health.since_unix_ms = integer(h["since_unix_ms"]);
  readCounters<ServerHealthCounters>(v, s.health, kServerHealthCounters);
  s.consecutive_failures = count(h["consecutive_failures"]);
  s.last_probe = h["last_probe"].str("?");
  s.health.last_rtt_seconds = h["last_rtt_seconds"].num(-1);
  if (!std::isfinite(s.health.last_rtt_seconds)) s.health.last_rtt_seconds = -1;
  s.probe_interval_ms = optionalInteger(h["probe_interval_ms"]);
  s.health.reason = h["reason"].str();
  s.health.hint = h["hint"].str();
  s.tcp = v["tcp"]["state"].str();
  s.tcp_reason = v["tcp"]["reason"].str();
  return s;
}

void write(ObjectWriter& w, const NameSnapshot& n) {
  w.str("host", n.host);
  writeStrings(w, "addresses", n.addresses);
  w.flag("from_hosts_file", n.from_hosts);
  w.integer("resolved_unix_ms", n.resolved_unix_ms);
  w.num("ttl_s", n.ttl_s);
  w.str("error", n.error);
  w.str("resolver", n.resolver);
  if (n.next_in_ms) w.integer("next_in_ms", *n.next_in_ms);
}

NameSnapshot readName(const std::string& origin, const json::Value& v) {
  NameSnapshot n;
  n.origin = origin;
  n.host = v["host"].str();
  n.addresses = strings(v["addresses"]);
  n.from_hosts = v["from_hosts_file"].flag();
  n.resolved_unix_ms = integer(v["resolved_unix_ms"]);
  n.ttl_s = count(v["ttl_s"]);
  n.error = v["error"].str();
  n.resolver = v["resolver"].str();
  n.next_in_ms = optionalInteger(v["next_in_ms"]);
  return n;
}

// ---- backends ----

void write(ObjectWriter& w, const BackendSnapshot& b) {
  w.str("balance", b.balance);
  w.str("on_all_down", b.on_all_down);
  w.flag("all_down", b.all_down);
  w.str("state", b.state);
  w.num("servers_up", b.servers_up);
  w.num("servers_in_pool", b.servers_in_pool);
  w.object("health", [&](ObjectWriter& h) {
    h.str("type", b.health.type);
    h.flag("active", b.health.active);
    h.integer("interval_ms", b.health.interval_ms);
    h.integer("timeout_ms", b.health.timeout_ms);
    h.num("rise", b.health.rise);
    h.num("fall", b.health.fall);
  });
  writeKeyed(w, "names", b.names, &NameSnapshot::origin);
  writeKeyed(w, "servers", b.servers, &ServerSnapshot::label);
}

BackendSnapshot readBackend(const std::string& name, const json::Value& v) {
  BackendSnapshot b;
  b.name = name;
  b.balance = v["balance"].str();
  b.on_all_down = v["on_all_down"].str();
  b.all_down = v["all_down"].flag();
  b.state = v["state"].str("?");
  b.servers_up = count(v["servers_up"]);
  b.servers_in_pool = count(v["servers_in_pool"]);
  const json::Value& h = v["health"];
  b.health = {h["type"].str(), h["active"].flag(), integer(h["interval_ms"]), integer(h["timeout_ms"]),
              count(h["rise"]), count(h["fall"])};
  for (const auto& [origin, n] : v["names"].object) b.names.push_back(readName(origin, n));
  for (const auto& [label, s] : v["servers"].object) b.servers.push_back(readServer(label, s));
  return b;
}

}  // namespace

std::string toJson(const Snapshot& s) {
  std::string out;
  {
    ObjectWriter w(out);
    writeKeyed(w, "frontends", s.frontends, &FrontendSnapshot::name);
    writeKeyed(w, "backends", s.backends, &BackendSnapshot::name);
    std::string& problems = w.key("problems");
    problems += '[';
    for (std::size_t i = 0; i < s.findings.size(); ++i) {
      if (i) problems += ", ";
      const Finding& f = s.findings[i];
      ObjectWriter p(problems);
      p.str("severity", f.severity);
      p.str("subject", f.subject);
      p.str("problem", f.problem);
      p.str("hint", f.hint);
    }
    problems += ']';
    w.flag("ok", s.ok());
    w.object("udpx", [&](ObjectWriter& u) {
      u.str("version", s.udpx.version);
      u.integer("pid", s.udpx.pid);
      u.str("config", s.udpx.config);
      u.integer("started_unix_ms", s.udpx.started_unix_ms);
      u.integer("now_unix_ms", s.udpx.now_unix_ms);
    });
    w.object("reloads", [&](ObjectWriter& r) {
      writeCounters<ReloadStats>(r, s.reloads, kReloadCounters, "reloads");
      r.integer("config_hash", static_cast<std::int64_t>(s.reload.config_hash));
      r.integer("last_success_unix_ms", s.reload.last_success_unix_ms);
      r.integer("failed_unix_ms", s.reload.failed_unix_ms);
      r.str("failed_file", s.reload.failed_file);
    });
  }
  return out;
}

Snapshot snapshotFromJson(const json::Value& doc) {
  Snapshot s;
  for (const auto& [name, f] : doc["frontends"].object) s.frontends.push_back(readFrontend(name, f));
  for (const auto& [name, b] : doc["backends"].object) s.backends.push_back(readBackend(name, b));
  for (const json::Value& p : doc["problems"].array) {
    s.findings.push_back({p["severity"].str(), p["subject"].str(), p["problem"].str(), p["hint"].str()});
  }
  const json::Value& u = doc["udpx"];
  s.udpx = {u["version"].str(), integer(u["pid"]), u["config"].str(), integer(u["started_unix_ms"]),
            integer(u["now_unix_ms"])};
  readCounters<ReloadStats>(doc, s.reloads, kReloadCounters);
  const json::Value& r = doc["reloads"];
  s.reload.config_hash = static_cast<std::uint64_t>(integer(r["config_hash"]));
  s.reload.last_success_unix_ms = integer(r["last_success_unix_ms"]);
  s.reload.failed_unix_ms = integer(r["failed_unix_ms"]);
  s.reload.failed_file = r["failed_file"].str();
  return s;
}

}  // namespace udpx

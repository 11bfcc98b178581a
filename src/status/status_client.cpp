// `udpx status`: find the endpoint, read the document, print it, exit with its verdict.
#include "status/status_client.h"

#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "config/config.h"
#include "config/duration.h"
#include "status/clients_text.h"
#include "status/snapshot_json.h"
#include "status/status_socket.h"

namespace udpx {
namespace {

constexpr int kReadTimeoutMs = 5000;

std::string clockTime(std::int64_t unix_ms) {
  const time_t t = static_cast<time_t>(unix_ms / 1000);
  tm tmv{};
  gmtime_r(&t, &tmv);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tmv);
  return buf;
}

std::string ago(std::int64_t then_ms, std::int64_t now_ms) {
  // Saturating: the times come from the document, which may hold any number.
  std::int64_t d = 0;
  if (__builtin_sub_overflow(now_ms, then_ms, &d)) d = now_ms > then_ms ? INT64_MAX : 0;
  if (d < 0) d = 0;
  // Whole seconds are enough for people; sub-second for very fresh changes.
  if (d >= 1000) d -= d % 1000;
  return formatDuration(std::chrono::milliseconds(d));
}

std::string count(std::uint64_t v) { return std::to_string(v); }

// Where to look, and whom to believe. Endpoints: --socket; else the config's global.status; else
// the runtime path (a udpx started as root) and then the abstract name (one started without
// privilege), both derived from the config path, also when this user cannot read the config.
// Believed: root, this user, the owner of the runtime directory (the binder gives it to udpx's
// account), the owner of the config file, and global.user when the config is readable.
struct Target {
  std::vector<std::string> endpoints;
  std::vector<uid_t> trusted;
};

Target findTarget(const std::string& config_path, const std::optional<std::string>& socket) {
  Target t;
  t.trusted = {0, geteuid()};
  struct stat st {};
  if (::stat(kRuntimeDir, &st) == 0) t.trusted.push_back(st.st_uid);
  if (::stat(config_path.c_str(), &st) == 0) t.trusted.push_back(st.st_uid);
  LoadResult loaded = loadConfigFile(config_path);
  if (loaded.config && !loaded.config->fixed.user.empty()) {
    if (const passwd* pw = ::getpwnam(loaded.config->fixed.user.c_str())) t.trusted.push_back(pw->pw_uid);
  }
  if (socket) {
    t.endpoints = {*socket};
  } else if (loaded.config && loaded.config->global.status == "off") {
    t.endpoints = {"off"};
  } else if (loaded.config && !loaded.config->global.status.empty()) {
    // Then the defaults: a file edited to move the status (the reload that moves it is asked on
    // the old socket) still finds a process that serves the default one.
    t.endpoints = {loaded.config->global.status, runtimeStatusPath(config_path), defaultStatusEndpoint(config_path)};
  } else {
    t.endpoints = {runtimeStatusPath(config_path),
                   loaded.config ? statusEndpoint(*loaded.config) : defaultStatusEndpoint(config_path)};
  }
  return t;
}

// Who listens on the other end (the credentials of the process that called listen()).
bool servedByTrusted(int fd, const Target& t, ucred& cred) {
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  return std::find(t.trusted.begin(), t.trusted.end(), cred.uid) != t.trusted.end();
}

}  // namespace

std::string renderStatusText(const Snapshot& st) {
  const std::int64_t now = st.udpx.now_unix_ms;
  std::string o;
  std::size_t errors = 0;
  for (const Finding& f : st.findings) errors += f.severity == "error" ? 1 : 0;
  const std::size_t warnings = st.findings.size() - errors;
  // "all is well" only when there is nothing to look at: a warning is counted, not hidden.
  std::string verdict = errors == 0 ? "" : std::to_string(errors) + " problem" + (errors == 1 ? "" : "s");
  if (warnings > 0) {
    verdict += (verdict.empty() ? "" : ", ") + std::to_string(warnings) + " warning" + (warnings == 1 ? "" : "s");
  }
  o += "udpx " + st.udpx.version + " (pid " + std::to_string(st.udpx.pid) + ", config " + st.udpx.config + "), up " +
       ago(st.udpx.started_unix_ms, now) + ": " + (verdict.empty() ? std::string("all is well") : verdict) + "\n";

  for (const FrontendSnapshot& fe : st.frontends) {
    const FrontendStats& c = fe.counters;
    std::string listen;
    for (const std::string& l : fe.listen) listen += (listen.empty() ? "" : ", ") + l;
    o += "\nfrontend " + fe.name + " (" + fe.preset + ") on " + listen + " -> backend " + fe.backend + "\n";
    if (fe.upstream_sockets == "shared") {
      o += "  shared upstream sockets: " + count(fe.in_flight) + " requests in flight of " + count(fe.sessions_max) +
           "; " + count(c.sessions_expired) + " unanswered, " + count(c.sessions_evicted) + " evicted, " +
           count(c.token_collisions) + " token collisions\n";
    } else {
      o += "  sessions: " + count(fe.sessions_active) + " active of " + count(fe.sessions_max) + "; " +
           count(c.sessions_created) + " created, " + count(c.sessions_closed) + " closed, " +
           count(c.sessions_expired) + " expired, " + count(c.sessions_evicted) + " evicted\n";
    }
    o += "  packets: " + count(c.received) + " received, " + count(c.forwarded) + " forwarded, " + count(c.replied) +
         " replies\n";
    std::string drops;
    for (std::size_t i = 0; i < kDropCount; ++i) {
      if (c.dropped[i] > 0) {
        drops += (drops.empty() ? "" : ", ") + std::string(dropName(static_cast<Drop>(i))) + " " + count(c.dropped[i]);
      }
    }
    o += "  drops: " + (drops.empty() ? std::string("none") : drops) + "\n";
    if (fe.tcp) {
      const TcpStats& t = fe.tcp_counters;
      std::string refused;
      for (const Counter<TcpStats>& k : kTcpCounters) {
        if (k.value.empty() || k.metric != kTcpCounters[1].metric || t.*k.member == 0) continue;
        refused += (refused.empty() ? "" : ", ") + std::string(k.value) + " " + count(t.*k.member);
      }
      o += "  tcp: " + count(fe.tcp_open) + " open of " + count(fe.tcp_max) + " (" + count(fe.tcp_max_per_client) +
           " per client); " + count(t.accepted) + " accepted, " + count(t.closed_done) + " done, " +
           count(t.closed_idle) + " idle timeout, " + count(t.closed_error) + " error; " + count(t.bytes_to_server) +
           " bytes to servers, " + count(t.bytes_to_client) + " to clients; refused: " +
           (refused.empty() ? std::string("none") : refused) + "\n";
    }
  }

  for (const BackendSnapshot& be : st.backends) {
    const BackendSnapshot::Health& h = be.health;
    std::string probe = h.active ? h.type + " probes every " + formatDuration(std::chrono::milliseconds(h.interval_ms)) +
                                       ", down after " + count(h.fall) + " failures, up after " + count(h.rise) +
                                       " successes"
                                 : "passive checks only";
    o += "\nbackend " + be.name + ": " + be.state + ", " + count(be.servers_up) + " of " + count(be.servers_in_pool) +
         " servers up (" + be.balance + ", " + probe + ")" +
         (be.all_down ? (be.on_all_down == "drop" ? " ALL DOWN: dropping" : " ALL DOWN: failing open") : "") + "\n";
    for (const NameSnapshot& n : be.names) {
      std::string addrs;
      for (const std::string& a : n.addresses) addrs += (addrs.empty() ? "" : ", ") + a;
      o += "  name " + n.origin + " -> " + (addrs.empty() ? std::string("(no address)") : addrs);
      if (!n.error.empty()) o += "  [" + n.error + "]";
      o += "\n";
    }
    if (be.servers.empty()) o += "  (no servers)\n";
    for (const ServerSnapshot& sv : be.servers) {
      const ServerHealth& sh = sv.health;
      std::string state = sv.state;
      for (char& c : state) c = static_cast<char>(c == ' ' ? c : (state == "up" ? c : std::toupper(static_cast<unsigned char>(c))));
      o += "  " + sv.label + "  " + state + " since " + clockTime(sh.since_unix_ms) + " (" + ago(sh.since_unix_ms, now) +
           " ago)";
      if (sv.origin != sv.label) o += "  from " + sv.origin;
      o += "\n    ";
      if (sh.probes > 0) {
        o += "last probe " + sv.last_probe + "; probes " + count(sh.probes) + ", failed " + count(sh.probe_failures);
        if (sh.last_rtt_seconds >= 0) {
          char rtt[32];
          std::snprintf(rtt, sizeof rtt, "%.2f ms", sh.last_rtt_seconds * 1000);
          o += ", last round trip " + std::string(rtt);
        }
        o += "; ";
      }
      o += "sessions " + count(sv.active_sessions) + " active, " + count(sv.counters.sessions) + " total; " +
           count(sv.counters.forwarded) + " forwarded, " + count(sv.counters.replied) + " replies, " +
           count(sh.unanswered) + " unanswered, " + count(sv.counters.refused) + " refused\n";
      if (sv.pool_sockets > 0 || sv.in_flight > 0) {
        o += "    shared pool: " + count(sv.pool_sockets) + " sockets, " + count(sv.in_flight) + " requests in flight\n";
      }
      if (!sh.reason.empty()) o += "    " + sh.reason + "\n";
    }
  }

  if (!st.findings.empty()) {
    o += "\nProblems:\n";
    for (const Finding& p : st.findings) {
      o += std::string(p.severity == "error" ? "  ! " : "  ~ ") + p.subject + ": " + p.problem + "\n";
      if (!p.hint.empty()) o += "    hint: " + p.hint + "\n";
    }
  }
  return o;
}

std::string renderStatusText(const json::Value& status) { return renderStatusText(snapshotFromJson(status)); }

StatusLink connectTrusted(const std::string& config_path, const std::optional<std::string>& socket) {
  StatusLink link;
  const Target target = findTarget(config_path, socket);
  if (target.endpoints.back() == "off") {
    link.result = StatusLink::Result::Off;
    return link;
  }
  std::string error;
  for (const std::string& e : target.endpoints) {
    link.fd = connectStatus(e, error);
    if (link.fd.valid()) {
      link.endpoint = e;
      break;
    }
    link.tried += (link.tried.empty() ? "" : ", ") + e + " (" + error + ")";
  }
  if (!link.fd.valid()) return link;
  ucred cred{};
  if (!servedByTrusted(link.fd.get(), target, cred)) {
    link.fd.reset();
    link.result = StatusLink::Result::Untrusted;
    link.uid = cred.uid;
    link.pid = cred.pid;
    return link;
  }
  link.result = StatusLink::Result::Connected;
  return link;
}

std::string untrustedMessage(const StatusLink& link) {
  return "refusing the answer at " + link.endpoint + ": it is served by uid " + std::to_string(link.uid) + " (pid " +
         std::to_string(link.pid) +
         "), which is neither root, nor you, nor udpx's account — another local user may have taken the name before "
         "udpx started (see who: ss -xlp | grep udpx); its answer is not used";
}

int runStatusCommand(const std::string& config_path, const std::optional<std::string>& socket, bool as_json,
                     bool clients) {
  StatusLink link = connectTrusted(config_path, socket);
  if (link.result == StatusLink::Result::Off) {
    std::fprintf(stderr, "udpx status: the status endpoint of %s is off (global.status = \"off\") — set it to \"@NAME\" "
                         "or a socket path to use udpx status\n", config_path.c_str());
    return kStatusUnreachable;
  }
  if (link.result == StatusLink::Result::Unreachable) {
    std::fprintf(stderr,
                 "udpx status: cannot reach udpx at %s — is udpx running with this config (%s)? Give the same "
                 "-c FILE it was started with, or --socket NAME (its log says which at start)\n",
                 link.tried.c_str(), socket ? "--socket" : ("-c " + config_path).c_str());
    return kStatusUnreachable;
  }
  if (link.result == StatusLink::Result::Untrusted) {
    std::fprintf(stderr, "udpx status: %s\n", untrustedMessage(link).c_str());
    return kStatusUnreachable;
  }
  const UniqueFd& fd = link.fd;
  const std::string& endpoint = link.endpoint;
  std::string error;
  // The request line (status_server.h); a udpx from before requests reads nothing and answers all the same.
  (void)!::send(fd.get(), "status\n", 7, MSG_NOSIGNAL);
  std::string text;
  if (!readUntilClosed(fd.get(), kReadTimeoutMs, text, error)) {
    std::fprintf(stderr, "udpx status: reading from %s failed: %s — is it really udpx listening there?\n",
                 endpoint.c_str(), error.c_str());
    return kStatusUnreachable;
  }
  std::optional<json::Value> doc = json::parse(text, error);
  if (!doc || doc->type != json::Value::Type::Object) {
    std::fprintf(stderr, "udpx status: %s did not answer with a status document (%s)\n", endpoint.c_str(),
                 doc ? "not an object" : error.c_str());
    return kStatusUnreachable;
  }
  const std::string out = as_json ? text : clients ? renderClientsText(snapshotFromJson(*doc)) : renderStatusText(*doc);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return (*doc)["ok"].flag(false) ? kStatusOk : kStatusProblems;
}

}  // namespace udpx

// `udpx status`: find the endpoint, read the document, print it, exit with its verdict.
#include "status/status_client.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "config/config.h"
#include "config/duration.h"
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
  std::int64_t d = now_ms - then_ms;
  if (d < 0) d = 0;
  // Whole seconds are enough for people; sub-second for very fresh changes.
  if (d >= 1000) d -= d % 1000;
  return formatDuration(std::chrono::milliseconds(d));
}

std::string count(double v) { return std::to_string(static_cast<unsigned long long>(v)); }

// Which endpoint to use: --socket, else the config's global.status, else the default derived
// from the config path (also when the config cannot be read by this user).
std::string findEndpoint(const std::string& config_path, const std::optional<std::string>& socket) {
  if (socket) return *socket;
  LoadResult loaded = loadConfigFile(config_path);
  if (loaded.config) return statusEndpoint(*loaded.config);
  return defaultStatusEndpoint(config_path);
}

bool readAll(int fd, std::string& out, std::string& error) {
  char buf[16384];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    const int r = poll(&p, 1, kReadTimeoutMs);
    if (r == 0) {
      error = "no answer within 5s";
      return false;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      error = strerror(errno);
      return false;
    }
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR) continue;
      error = strerror(errno);
      return false;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

std::string renderStatusText(const json::Value& st) {
  const std::int64_t now = static_cast<std::int64_t>(st["udpx"]["now_unix_ms"].num());
  std::string o;
  const json::Value& problems = st["problems"];
  std::size_t errors = 0;
  for (const json::Value& p : problems.array) errors += p["severity"].str() == "error" ? 1 : 0;
  o += "udpx " + st["udpx"]["version"].str() + " (pid " + count(st["udpx"]["pid"].num()) + ", config " +
       st["udpx"]["config"].str() + "), up " + ago(static_cast<std::int64_t>(st["udpx"]["started_unix_ms"].num()), now) +
       ": " + (errors == 0 ? std::string("all is well") : std::to_string(errors) + " problem" + (errors == 1 ? "" : "s")) +
       "\n";

  for (const auto& [name, fe] : st["frontends"].object) {
    std::string listen;
    for (const json::Value& l : fe["listen"].array) listen += (listen.empty() ? "" : ", ") + l.str();
    o += "\nfrontend " + name + " (" + fe["preset"].str() + ") on " + listen + " -> backend " + fe["backend"].str() + "\n";
    const json::Value& s = fe["sessions"];
    o += "  sessions: " + count(s["active"].num()) + " active of " + count(s["max"].num()) + "; " +
         count(s["created"].num()) + " created, " + count(s["closed"].num()) + " closed, " + count(s["expired"].num()) +
         " expired, " + count(s["evicted"].num()) + " evicted\n";
    o += "  packets: " + count(fe["received"].num()) + " received, " + count(fe["forwarded"].num()) + " forwarded, " +
         count(fe["replied"].num()) + " replies\n";
    std::string drops;
    for (const auto& [reason, n] : fe["dropped"].object) {
      if (n.num() > 0) drops += (drops.empty() ? "" : ", ") + reason + " " + count(n.num());
    }
    o += "  drops: " + (drops.empty() ? std::string("none") : drops) + "\n";
  }

  for (const auto& [name, be] : st["backends"].object) {
    const json::Value& h = be["health"];
    std::string probe = h["active"].flag()
                            ? h["type"].str() + " probes every " +
                                  formatDuration(std::chrono::milliseconds(static_cast<std::int64_t>(h["interval_ms"].num()))) +
                                  ", down after " + count(h["fall"].num()) + " failures, up after " +
                                  count(h["rise"].num()) + " successes"
                            : "passive checks only";
    o += "\nbackend " + name + ": " + be["state"].str("?") + ", " + count(be["servers_up"].num()) + " of " +
         count(be["servers_in_pool"].num()) + " servers up (" + be["balance"].str() + ", " + probe + ")" +
         (be["all_down"].flag() ? (be["on_all_down"].str() == "drop" ? " ALL DOWN: dropping" : " ALL DOWN: failing open")
                                : "") +
         "\n";
    for (const auto& [host, n] : be["names"].object) {
      std::string addrs;
      for (const json::Value& a : n["addresses"].array) addrs += (addrs.empty() ? "" : ", ") + a.str();
      o += "  name " + host + " -> " + (addrs.empty() ? std::string("(no address)") : addrs);
      if (!n["error"].str().empty()) o += "  [" + n["error"].str() + "]";
      o += "\n";
    }
    if (be["servers"].object.empty()) o += "  (no servers)\n";
    for (const auto& [label, sv] : be["servers"].object) {
      const json::Value& sh = sv["health"];
      std::string state = sv["state"].str();
      for (char& c : state) c = static_cast<char>(c == ' ' ? c : (state == "up" ? c : std::toupper(static_cast<unsigned char>(c))));
      o += "  " + label + "  " + state + " since " + clockTime(static_cast<std::int64_t>(sh["since_unix_ms"].num())) +
           " (" + ago(static_cast<std::int64_t>(sh["since_unix_ms"].num()), now) + " ago)";
      if (sv["origin"].str() != label) o += "  from " + sv["origin"].str();
      o += "\n    ";
      if (sh["probes"].num() > 0) {
        o += "last probe " + sh["last_probe"].str("?") + "; probes " + count(sh["probes"].num()) + ", failed " +
             count(sh["probe_failures"].num());
        if (sh["last_rtt_seconds"].type == json::Value::Type::Number) {
          char rtt[32];
          std::snprintf(rtt, sizeof rtt, "%.2f ms", sh["last_rtt_seconds"].num() * 1000);
          o += ", last round trip " + std::string(rtt);
        }
        o += "; ";
      }
      o += "sessions " + count(sv["active_sessions"].num()) + " active, " + count(sv["sessions"].num()) + " total; " +
           count(sv["forwarded"].num()) + " forwarded, " + count(sv["replied"].num()) + " replies, " +
           count(sh["unanswered"].num()) + " unanswered, " + count(sv["refused"].num()) + " refused\n";
      if (!sh["reason"].str().empty()) o += "    " + sh["reason"].str() + "\n";
    }
  }

  if (!problems.array.empty()) {
    o += "\nProblems:\n";
    for (const json::Value& p : problems.array) {
      o += std::string(p["severity"].str() == "error" ? "  ! " : "  ~ ") + p["subject"].str() + ": " + p["problem"].str() + "\n";
      if (!p["hint"].str().empty()) o += "    hint: " + p["hint"].str() + "\n";
    }
  }
  return o;
}

int runStatusCommand(const std::string& config_path, const std::optional<std::string>& socket, bool as_json) {
  const std::string endpoint = findEndpoint(config_path, socket);
  if (endpoint == "off") {
    std::fprintf(stderr, "udpx status: the status endpoint of %s is off (global.status = \"off\") — set it to \"@NAME\" "
                         "or a socket path to use udpx status\n", config_path.c_str());
    return kStatusUnreachable;
  }
  std::string error;
  UniqueFd fd = connectStatus(endpoint, error);
  if (!fd.valid()) {
    std::fprintf(stderr,
                 "udpx status: cannot reach udpx at %s: %s — is udpx running with this config (%s)? Give the same "
                 "-c FILE it was started with, or --socket NAME (its log says which at start)\n",
                 endpoint.c_str(), error.c_str(), socket ? "--socket" : ("-c " + config_path).c_str());
    return kStatusUnreachable;
  }
  std::string text;
  if (!readAll(fd.get(), text, error)) {
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
  const std::string out = as_json ? text : renderStatusText(*doc);
  std::fwrite(out.data(), 1, out.size(), stdout);
  return (*doc)["ok"].flag(false) ? kStatusOk : kStatusProblems;
}

}  // namespace udpx

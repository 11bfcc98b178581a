// [frontend.NAME]: listen addresses (each owned by one frontend), the preset and its defaults,
// the backend it names, the allow list and the session limits.
#include <algorithm>
#include <utility>

#include "config/sections.h"

namespace udpx {
namespace {

constexpr std::int64_t kMaxDatagramLimit = 65507;  // largest UDP payload over IPv4
// Each TCP connection holds two sockets and two pipes (6 descriptors).
constexpr std::int64_t kMaxTcpConnectionsLimit = 65536;

std::optional<std::uint32_t> readResponses(ConfigReader& r, const ConfigNode& node, const std::string& path) {
  constexpr const char* kExpected = "expected an integer or \"unlimited\"";
  if (node.type == ConfigNode::Type::String) {
    if (node.text == "unlimited") return kUnlimitedResponses;
    r.error(node.pos, path, std::string(kExpected) + ", got " + quoted(node.text),
            "write a count such as 1, 0 for one-way traffic, or \"unlimited\"");
    return std::nullopt;
  }
  if (node.type != ConfigNode::Type::Integer) {
    r.error(node.pos, path, std::string(kExpected) + ", got " + std::string(typeName(node.type)),
            "write a count such as 1, 0 for one-way traffic, or \"unlimited\"");
    return std::nullopt;
  }
  // kUnlimitedResponses itself is reserved for "unlimited".
  const auto v = r.readInt(node, path, 0, std::int64_t{kUnlimitedResponses} - 1);
  if (!v) return std::nullopt;
  return static_cast<std::uint32_t>(*v);
}

std::optional<SockAddr> checkListen(ConfigReader& r, const ListItem& item) {
  constexpr const char* kHint = "write IP:PORT, e.g. 192.168.0.1:123, 0.0.0.0:123 or [::]:123";
  std::string host;
  std::optional<std::uint16_t> port;
  std::string why;
  if (!splitHostPort(item.text, host, port, why)) {
    r.error(item.pos, item.path, "bad listen address " + quoted(item.text) + ": " + why, kHint);
    return std::nullopt;
  }
  auto addr = SockAddr::parseIp(host, port.value_or(0));
  if (!addr) {
    r.error(item.pos, item.path, quoted(host) + " is not a literal IP address",
            "host names are not resolved for listen addresses; " + std::string(kHint));
    return std::nullopt;
  }
  if (!port) {
    r.error(item.pos, item.path, "no port given in " + quoted(item.text), kHint);
    return std::nullopt;
  }
  return addr;
}

// Records a listen address; reports it if another frontend (or this one) already has it.
bool claimListen(ConfigReader& r, const SockAddr& addr, const ListItem& item, const std::string& frontend,
                 std::vector<TakenListen>& taken) {
  for (const TakenListen& t : taken) {
    // NOTE: a wildcard socket (0.0.0.0:P, [::]:P) takes port P on every local address of its
    // family, so a specific address with the same port could never be bound beside it.
    const bool overlaps = !(t.addr == addr) && t.addr.family() == addr.family() && t.addr.port() == addr.port() &&
                          (t.addr.isWildcard() || addr.isWildcard());
    if (overlaps) {
      r.error(item.pos, item.path,
              quoted(item.text) + " overlaps " + t.addr.toString() + " of frontend " + t.frontend + " (" +
                  lineCol(t.pos) + ")",
              "a wildcard address takes the port on every local address; listen on the wildcard only, or on "
              "specific addresses only");
      return false;
    }
    if (!(t.addr == addr)) continue;
    const std::string where = lineCol(t.pos);
    if (t.frontend == frontend) {
      r.error(item.pos, item.path, quoted(item.text) + " is listed twice (first at " + where + ")",
              "remove one of them");
    } else {
      r.error(item.pos, item.path,
              quoted(item.text) + " is already a listen address of frontend " + t.frontend + " (" + where + ")",
              "an address:port can belong to one frontend only; change the port or remove one");
    }
    return false;
  }
  taken.push_back(TakenListen{addr, frontend, item.pos});
  return true;
}

void readAllow(ConfigReader& r, const ConfigNode& node, const std::string& path, std::vector<Cidr>& out) {
  const auto items = r.readStringList(node, path,
                                      "an empty list refuses every client: remove the key for the default private "
                                      "ranges, or write [\"0.0.0.0/0\", \"::/0\"] to allow everyone");
  for (const ListItem& item : items.value_or(std::vector<ListItem>{})) {
    std::string why;
    if (auto cidr = Cidr::parse(item.text, why)) {
      out.push_back(*cidr);
    } else {
      r.error(item.pos, item.path, "bad CIDR " + quoted(item.text) + ": " + why,
              "write a prefix such as 192.168.0.0/16 or fd00::/8");
    }
  }
}

constexpr const char* kRateHint =
    "write a count per second or per minute, e.g. \"20/s\" or \"30/min\", or \"off\"";
constexpr std::int64_t kMaxRatePerMinute = 60'000'000'000;  // 1e9 a second: beyond any link
constexpr std::int64_t kMaxBurst = 1'000'000'000;

// "20/s", "30/min" or "off" (0) as a rate per minute.
std::optional<std::uint64_t> readRate(ConfigReader& r, const ConfigNode& node, const std::string& path) {
  const auto text = r.readString(node, path);
  if (!text) return std::nullopt;
  if (*text == "off") return 0;
  const std::size_t slash = text->find('/');
  const std::string count = text->substr(0, slash);
  const std::string unit = slash == std::string::npos ? "" : text->substr(slash + 1);
  std::uint64_t n = 0;
  bool digits = !count.empty() && count.size() <= 12;
  for (char ch : count) {
    if (ch < '0' || ch > '9') digits = false;
    if (digits) n = n * 10 + static_cast<std::uint64_t>(ch - '0');
  }
  const std::uint64_t per = unit == "s" ? 60 : unit == "min" ? 1 : 0;
  if (!digits || per == 0) {
    r.error(node.pos, path, "bad rate " + quoted(*text), kRateHint);
    return std::nullopt;
  }
  if (n == 0 || n * per > static_cast<std::uint64_t>(kMaxRatePerMinute)) {
    r.error(node.pos, path, "rate " + quoted(*text) + " is out of range", "a rate is at least 1/min; \"off\" turns it off");
    return std::nullopt;
  }
  return n * per;
}

// The burst a rate written without one gets: two seconds' worth, at least one datagram.
std::uint64_t defaultBurst(std::uint64_t per_minute) noexcept {
  return per_minute == 0 ? 0 : std::max<std::uint64_t>(1, (2 * per_minute + 59) / 60);
}

void readRates(ConfigReader& r, const ConfigNode& table, const std::string& path, FrontendConfig& f) {
  const RateDefaults& d = protocolOf(f.preset).rate;
  RateLimitConfig& rate = f.rate;
  rate.per_minute = d.per_minute;
  rate.burst = d.burst;
  rate.prefix_per_minute = d.prefix_per_minute;
  rate.prefix_burst = d.prefix_burst;
  if (const ConfigNode* n = table.get("rate_limit")) {
    if (const auto v = readRate(r, *n, path + ".rate_limit")) {
      rate.per_minute = *v;
      rate.burst = defaultBurst(*v);
    }
  }
  if (const ConfigNode* n = table.get("rate_burst")) {
    if (const auto v = r.readInt(*n, path + ".rate_burst", 1, kMaxBurst)) rate.burst = static_cast<std::uint64_t>(*v);
  }
  if (const ConfigNode* n = table.get("rate_limit_prefix")) {
    if (const auto v = readRate(r, *n, path + ".rate_limit_prefix")) {
      rate.prefix_per_minute = *v;
      rate.prefix_burst = defaultBurst(*v);
    }
  }
  if (const ConfigNode* n = table.get("rate_burst_prefix")) {
    if (const auto v = r.readInt(*n, path + ".rate_burst_prefix", 1, kMaxBurst)) {
      rate.prefix_burst = static_cast<std::uint64_t>(*v);
    }
  }
  if (const ConfigNode* n = table.get("rate_prefix_v4")) {
    if (const auto v = r.readInt(*n, path + ".rate_prefix_v4", 1, 32)) rate.prefix_v4 = static_cast<std::uint8_t>(*v);
  }
  if (const ConfigNode* n = table.get("rate_prefix_v6")) {
    if (const auto v = r.readInt(*n, path + ".rate_prefix_v6", 1, 128)) rate.prefix_v6 = static_cast<std::uint8_t>(*v);
  }
  if (const ConfigNode* n = table.get("kod")) {
    if (n->type != ConfigNode::Type::Boolean) {
      r.wrongType(*n, path + ".kod", "a boolean", "write kod = true or kod = false");
    } else if (n->integer != 0 && protocolOf(f.preset).rate_kiss == nullptr) {
      r.error(n->pos, path + ".kod", "preset " + quoted(presetName(f.preset)) + " has no kiss-o'-death",
              "kod is for preset \"ntp\" only: remove it (rate-limited requests are dropped)");
    } else {
      rate.kod = n->integer != 0;
    }
  }
}

// upstream_pool_sockets: refused where the frontend keeps a socket per session, as kod is where
// the preset has no kiss: a key that would do nothing is a mistake to point at, not to ignore.
// `mode_ok`: the preset and upstream_sockets were valid (else that error is the one to read).
void readPoolSockets(ConfigReader& r, const ConfigNode& table, const std::string& path, FrontendConfig& f,
                     bool mode_ok) {
  const ConfigNode* n = table.get("upstream_pool_sockets");
  if (n == nullptr) return;
  const auto v = r.readInt(*n, path + ".upstream_pool_sockets", 1, kMaxUpstreamPoolSockets);
  if (!v || !mode_ok) return;
  if (f.upstream_sockets != UpstreamSocketsMode::Shared) {
    const bool token = protocolOf(f.preset).canShareUpstream();
    r.error(n->pos, path + ".upstream_pool_sockets",
            "sizes the pool of shared upstream sockets, but this frontend has a socket per session "
            "(upstream_sockets = \"per-session\")",
            token && f.responses == 1 ? "remove it, or set upstream_sockets = \"shared\""
                                      : "remove it (shared sockets are for ntp and dns with responses = 1)");
    return;
  }
  f.upstream_pool_sockets = static_cast<std::uint32_t>(*v);
}

// tcp and its limits (dataplane/tcp_relay.h).
void readTcp(ConfigReader& r, const ConfigNode& table, const std::string& path, FrontendConfig& f) {
  if (const ConfigNode* n = table.get("tcp")) {
    if (n->type == ConfigNode::Type::Boolean) {
      f.tcp = n->integer != 0;
      if (!f.tcp && protocolOf(f.preset).tcp_only) {
        r.error(n->pos, path + ".tcp", "preset " + quoted(std::string(presetName(f.preset))) + " is TCP only",
                "remove tcp = false (an nts-ke frontend relays TCP and nothing else)");
      }
    } else {
      r.error(n->pos, path + ".tcp", "expected true or false, got " + std::string(typeName(n->type)),
              "write tcp = true to relay TCP on the listen addresses too, tcp = false for UDP only");
    }
  }
  if (const ConfigNode* n = table.get("tcp_max_connections")) {
    if (const auto v = r.readInt(*n, path + ".tcp_max_connections", 1, kMaxTcpConnectionsLimit)) {
      f.tcp_max_connections = static_cast<std::uint32_t>(*v);
    }
  }
  if (const ConfigNode* n = table.get("tcp_max_per_client")) {
    if (const auto v = r.readInt(*n, path + ".tcp_max_per_client", 1, kMaxTcpConnectionsLimit)) {
      f.tcp_max_per_client = static_cast<std::uint32_t>(*v);
    }
  }
  if (const ConfigNode* n = table.get("tcp_idle_timeout")) {
    if (const auto d = r.readDuration(*n, path + ".tcp_idle_timeout")) {
      if (d->count() > 0) {
        f.tcp_idle_timeout = *d;
      } else {
        r.error(n->pos, path + ".tcp_idle_timeout", "must be longer than 0",
                "write a duration such as \"10s\": idle connections are closed after it");
      }
    }
  }
}

}  // namespace

FrontendDraft loadFrontend(ConfigReader& r, const NamedTable& nt, std::vector<TakenListen>& taken) {
  const std::string path = "frontend." + nt.name;
  const ConfigNode& table = *nt.table;
  FrontendDraft draft;
  FrontendConfig& f = draft.config;
  f.name = nt.name;
  f.pos = nt.pos;
  r.checkKeys(table, path, kFrontendKeys);

  if (const ConfigNode* n = table.get("preset")) {
    if (const auto i = r.readChoice(*n, path + ".preset", "preset", presetNames())) {
      f.preset = presetFromName(presetNames()[*i]).value_or(Preset::Raw);
    } else {
      draft.preset_ok = false;
    }
  }
  const PresetDefaults& defaults = presetDefaults(f.preset);
  f.session_timeout = defaults.session_timeout;
  f.responses = defaults.responses;
  f.max_datagram = defaults.max_datagram;
  f.tcp = protocolOf(f.preset).tcp_default;

  if (const ConfigNode* n = table.get("listen")) {
    const auto items =
        r.readStringList(*n, path + ".listen", "list at least one address: listen = [\"192.168.0.1:123\"]");
    for (const ListItem& item : items.value_or(std::vector<ListItem>{})) {
      if (auto addr = checkListen(r, item)) {
        if (claimListen(r, *addr, item, nt.name, taken)) {
          f.listen.push_back(*addr);
          draft.listen_pos.push_back(item.pos);
        }
      }
    }
  } else {
    r.missingKey(table, path, "listen", "add listen = [\"IP:PORT\"]");
  }

  if (const ConfigNode* n = table.get("backend")) {
    if (auto name = r.readString(*n, path + ".backend")) {
      f.backend = std::move(*name);
      draft.has_backend = true;
      draft.backend_pos = n->pos;
    }
  } else {
    r.missingKey(table, path, "backend", "add backend = \"NAME\" naming a [backend.NAME] table");
  }

  if (const ConfigNode* n = table.get("allow")) {
    readAllow(r, *n, path + ".allow", f.allow);
  } else {
    f.allow = defaultAllowList();
  }

  if (const ConfigNode* n = table.get("session_timeout")) {
    if (const auto d = r.readDuration(*n, path + ".session_timeout")) f.session_timeout = *d;
  }
  if (const ConfigNode* n = table.get("max_sessions")) {
    if (const auto v = r.readInt(*n, path + ".max_sessions", 1, kMaxSessionsLimit)) {
      f.max_sessions = static_cast<std::uint32_t>(*v);
    }
  }
  if (const ConfigNode* n = table.get("max_sessions_per_client")) {
    if (const auto v = r.readInt(*n, path + ".max_sessions_per_client", 0, kMaxSessionsLimit)) {
      f.max_sessions_per_client = static_cast<std::uint32_t>(*v);
    }
  }
  if (const ConfigNode* n = table.get("responses")) {
    if (const auto v = readResponses(r, *n, path + ".responses")) f.responses = *v;
  }
  if (const ConfigNode* n = table.get("max_datagram")) {
    if (const auto v = r.readInt(*n, path + ".max_datagram", 1, kMaxDatagramLimit)) {
      f.max_datagram = static_cast<std::uint32_t>(*v);
    }
  }
  // Shared sockets need a token that pairs each reply with its request, and one reply each.
  const bool can_share = protocolOf(f.preset).canShareUpstream() && f.responses == 1;
  f.upstream_sockets = can_share ? UpstreamSocketsMode::Shared : UpstreamSocketsMode::PerSession;
  bool mode_ok = draft.preset_ok;  // false: the mode is unknown (an error was reported)
  if (const ConfigNode* n = table.get("upstream_sockets")) {
    if (const auto v = r.readEnum(*n, path + ".upstream_sockets", "upstream_sockets", kUpstreamSocketsNames)) {
      if (*v == UpstreamSocketsMode::Shared && !can_share && draft.preset_ok) {
        mode_ok = false;
        const bool token = protocolOf(f.preset).canShareUpstream();
        r.error(n->pos, path + ".upstream_sockets",
                token ? "shared upstream sockets need responses = 1 (this frontend allows " +
                            (f.responses == kUnlimitedResponses ? std::string("unlimited") : std::to_string(f.responses)) +
                            " replies per request)"
                      : "preset " + std::string(presetName(f.preset)) +
                            " has no reply token to tell clients apart on a shared socket",
                token ? "set responses = 1, or upstream_sockets = \"per-session\""
                      : "use upstream_sockets = \"per-session\" (shared works for ntp and dns)");
      } else {
        f.upstream_sockets = *v;
      }
    } else {
      mode_ok = false;
    }
  }
  readPoolSockets(r, table, path, f, mode_ok);
  readRates(r, table, path, f);
  readTcp(r, table, path, f);
  return draft;
}

}  // namespace udpx

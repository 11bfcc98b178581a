// [frontend.NAME]: listen addresses (each owned by one frontend), the preset and its defaults,
// the backend it names, the allow list and the session limits.
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
  if (const ConfigNode* n = table.get("responses")) {
    if (const auto v = readResponses(r, *n, path + ".responses")) f.responses = *v;
  }
  if (const ConfigNode* n = table.get("max_datagram")) {
    if (const auto v = r.readInt(*n, path + ".max_datagram", 1, kMaxDatagramLimit)) {
      f.max_datagram = static_cast<std::uint32_t>(*v);
    }
  }
  readTcp(r, table, path, f);
  return draft;
}

}  // namespace udpx

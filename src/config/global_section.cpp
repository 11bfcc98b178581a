// [global]: the log level, the session cap, the metrics and status endpoints, the resolvers, and
// the accounts and chroot of privilege separation.
#include <algorithm>

#include "config/sections.h"

namespace udpx {
namespace {

// A socket name in the abstract namespace or a file path: sockaddr_un's sun_path holds 108.
constexpr std::size_t kMaxStatusLen = 107;

// The HTTP endpoint's address: a literal IP and an explicit TCP port.
std::optional<SockAddr> checkMetricsAddress(ConfigReader& r, const std::string& text, SourcePos pos) {
  constexpr const char* kHint =
      "write IP:PORT, e.g. \"127.0.0.1:9123\" or \"[::1]:9123\"; remove the key to turn the endpoint off";
  const std::string path = "global.metrics";
  std::string host;
  std::optional<std::uint16_t> port;
  std::string why;
  if (!splitHostPort(text, host, port, why)) {
    r.error(pos, path, "bad address " + quoted(text) + ": " + why, kHint);
    return std::nullopt;
  }
  auto addr = SockAddr::parseIp(host, port.value_or(0));
  if (!addr) {
    r.error(pos, path, quoted(host) + " is not a literal IP address",
            "host names are not resolved for listen addresses; " + std::string(kHint));
    return std::nullopt;
  }
  if (!port) {  // (port 0 is refused by splitHostPort)
    r.error(pos, path, "no port given in " + quoted(text),
            "Prometheus needs a fixed port to scrape; " + std::string(kHint));
    return std::nullopt;
  }
  return addr;
}

void readResolvers(ConfigReader& r, const ConfigNode& node, std::vector<SockAddr>& out) {
  constexpr const char* kHint = "write IP:PORT or [IPv6]:PORT, e.g. \"127.0.0.1:53\"";
  const auto items =
      r.readStringList(node, "global.resolvers", "list at least one resolver, or remove the key to use /etc/resolv.conf");
  for (const ListItem& item : items.value_or(std::vector<ListItem>{})) {
    std::string host;
    std::optional<std::uint16_t> port;
    std::string why;
    if (!splitHostPort(item.text, host, port, why)) {
      r.error(item.pos, item.path, "bad resolver " + quoted(item.text) + ": " + why, kHint);
      continue;
    }
    auto addr = SockAddr::parseIp(host, port.value_or(53));
    if (!addr) {
      r.error(item.pos, item.path, quoted(host) + " is not a literal IP address",
              std::string("a resolver cannot itself be a host name; ") + kHint);
      continue;
    }
    out.push_back(*addr);
  }
}

void readStatus(ConfigReader& r, const ConfigNode& node, std::string& out) {
  auto v = r.readString(node, "global.status");
  if (!v) return;
  const bool ok = *v == "off" || (v->size() > 1 && v->size() <= kMaxStatusLen && ((*v)[0] == '@' || (*v)[0] == '/'));
  if (ok) {
    out = *v;
  } else {
    r.error(node.pos, "global.status", "bad status endpoint " + quoted(*v),
            "write \"@NAME\" (an abstract unix socket), an absolute socket path such as "
            "\"/run/udpx.sock\" (at most 107 characters), or \"off\"; remove the key for the default");
  }
}

// global.user / global.group: a name as in /etc/passwd or /etc/group (checked at startup).
void readAccountName(ConfigReader& r, const ConfigNode& table, std::string_view key, std::string& out,
                     SourcePos& pos) {
  const ConfigNode* n = table.get(key);
  if (n == nullptr) return;
  const std::string path = "global." + std::string(key);
  auto name = r.readString(*n, path);
  if (!name) return;
  const bool ok = !name->empty() && name->size() <= 32 && std::all_of(name->begin(), name->end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  }) && name->front() != '-';
  if (!ok) {
    r.error(n->pos, path, quoted(*name) + " is not a valid " + std::string(key) + " name",
            "write an account name such as \"udpx\" (letters, digits, '_', '-', '.')");
    return;
  }
  out = *name;
  pos = n->pos;
}

void readChroot(ConfigReader& r, const ConfigNode& node, FixedConfig& fixed) {
  auto dir = r.readString(node, "global.chroot");
  if (!dir) return;
  if (dir->empty() || dir->front() != '/') {
    r.error(node.pos, "global.chroot", "chroot directory " + quoted(*dir) + " is not an absolute path",
            "write an absolute path such as \"/var/empty\", or remove the key");
    return;
  }
  fixed.chroot = *dir;
  fixed.chroot_pos = node.pos;
}

}  // namespace

void loadGlobal(ConfigReader& r, const ConfigNode& table, FixedConfig& fixed, GlobalConfig& global) {
  r.checkKeys(table, "global", kGlobalKeys);
  if (const ConfigNode* n = table.get("log_level")) {
    if (const auto level = r.readEnum(*n, "global.log_level", "log level", kLogLevelNames)) global.log_level = *level;
  }
  if (const ConfigNode* n = table.get("max_sessions")) {
    if (const auto v = r.readInt(*n, "global.max_sessions", 1, kMaxSessionsLimit)) {
      global.max_sessions = static_cast<std::uint32_t>(*v);
    }
  }
  if (const ConfigNode* n = table.get("metrics")) {
    if (const auto s = r.readString(*n, "global.metrics")) global.metrics = checkMetricsAddress(r, *s, n->pos);
    global.metrics_pos = n->pos;
  }
  if (const ConfigNode* n = table.get("resolvers")) readResolvers(r, *n, global.resolvers);
  if (const ConfigNode* n = table.get("status")) {
    readStatus(r, *n, global.status);
    global.status_pos = n->pos;
  }
  readAccountName(r, table, "user", fixed.user, fixed.user_pos);
  readAccountName(r, table, "group", fixed.group, fixed.group_pos);
  if (const ConfigNode* n = table.get("chroot")) readChroot(r, *n, fixed);
}

}  // namespace udpx

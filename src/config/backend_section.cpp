// [backend.NAME]: its servers (literal addresses or host names), balancing, failure and
// re-resolution timing; its [health] table is read by health_section.cpp.
#include <algorithm>
#include <utility>

#include "config/duration.h"
#include "config/sections.h"

namespace udpx {
namespace {

constexpr const char* kServerHint = "write HOST, HOST:PORT, IP:PORT or [IPv6]:PORT";

bool looksLikeIpv4(std::string_view host) {
  return std::all_of(host.begin(), host.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

std::optional<ServerDraft> checkServer(ConfigReader& r, const ListItem& item) {
  ServerDraft draft;
  draft.config.text = item.text;
  draft.config.pos = item.pos;
  draft.path = item.path;
  std::optional<std::uint16_t> port;
  std::string why;
  if (!splitHostPort(item.text, draft.config.host, port, why)) {
    r.error(item.pos, item.path, "bad server " + quoted(item.text) + ": " + why, kServerHint);
    return std::nullopt;
  }
  const std::string& host = draft.config.host;
  draft.port_given = port.has_value();
  draft.config.port = port.value_or(0);
  if (host.find(':') != std::string::npos || looksLikeIpv4(host)) {
    draft.config.literal = SockAddr::parseIp(host, draft.config.port);
    if (!draft.config.literal) {
      r.error(item.pos, item.path, quoted(host) + " is not a valid IP address", kServerHint);
      return std::nullopt;
    }
  } else if (const std::string problem = hostNameProblem(host); !problem.empty()) {
    r.error(item.pos, item.path, quoted(host) + " is not a valid host name: " + problem,
            host.size() > kMaxHostName ? "write the server's real name or its IP address"
                                       : "use letters, digits, '-' and '.', or an IP address");
    return std::nullopt;
  }
  return draft;
}

}  // namespace

BackendDraft loadBackend(ConfigReader& r, const NamedTable& nt) {
  const std::string path = "backend." + nt.name;
  const ConfigNode& table = *nt.table;
  BackendDraft draft;
  BackendConfig& b = draft.config;
  b.name = nt.name;
  b.pos = nt.pos;
  r.checkKeys(table, path, kBackendKeys);

  if (const ConfigNode* n = table.get("servers")) {
    const auto items =
        r.readStringList(*n, path + ".servers", "list at least one server: servers = [\"HOST:PORT\"]");
    for (const ListItem& item : items.value_or(std::vector<ListItem>{})) {
      if (auto server = checkServer(r, item)) draft.servers.push_back(std::move(*server));
    }
  } else {
    r.missingKey(table, path, "servers", "add servers = [\"HOST:PORT\"]");
  }
  if (const ConfigNode* n = table.get("balance")) {
    if (const auto v = r.readEnum(*n, path + ".balance", "balance", kBalanceNames)) b.balance = *v;
    draft.balance_given = true;
  }
  if (const ConfigNode* n = table.get("fail_timeout")) {
    if (const auto d = r.readDuration(*n, path + ".fail_timeout")) b.fail_timeout = *d;
  }
  if (const ConfigNode* n = table.get("on_all_down")) {
    if (const auto v = r.readEnum(*n, path + ".on_all_down", "on_all_down", kOnAllDownNames)) b.on_all_down = *v;
  }
  if (const ConfigNode* n = table.get("resolve_min")) {
    if (const auto d = r.readDuration(*n, path + ".resolve_min")) b.resolve_min = *d;
    draft.resolve_min_pos = n->pos;
  }
  if (const ConfigNode* n = table.get("resolve_max")) {
    if (const auto d = r.readDuration(*n, path + ".resolve_max")) b.resolve_max = *d;
  }
  if (b.resolve_min > b.resolve_max) {
    r.error(draft.resolve_min_pos.line ? draft.resolve_min_pos : nt.pos, path + ".resolve_min",
            "resolve_min " + formatDuration(b.resolve_min) + " is longer than resolve_max " +
                formatDuration(b.resolve_max),
            "make resolve_min <= resolve_max");
  }
  if (const ConfigNode* n = table.get("health")) {
    if (n->isTable()) {
      loadHealth(r, *n, path + ".health", b.health, draft.health);
    } else {
      r.wrongType(*n, path + ".health", "a table", "write [" + path + ".health] followed by its keys");
    }
  }
  return draft;
}

}  // namespace udpx

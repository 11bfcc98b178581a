// What spans sections: a frontend's backend must exist, a backend should be used, and a backend
// takes its servers' default port and its health probe from the presets of its frontends.
#include <algorithm>
#include <set>

#include "config/sections.h"

namespace udpx {
namespace {

void checkBackendExists(ConfigReader& r, const FrontendDraft& f, const std::vector<std::string>& backendNames) {
  if (std::find(backendNames.begin(), backendNames.end(), f.config.backend) != backendNames.end()) return;
  const std::string path = "frontend." + f.config.name + ".backend";
  if (backendNames.empty()) {
    r.error(f.backend_pos, path, "backend " + f.config.backend + " is not defined",
            "no backend is defined: add a [backend." + f.config.backend + "] table with servers = [\"HOST:PORT\"]");
  } else {
    r.error(f.backend_pos, path, "backend " + f.config.backend + " is not defined",
            suggestion(f.config.backend, backendNames) + "defined backends: " + joinNames(backendNames));
  }
}

void defaultServerPort(ConfigReader& r, ServerDraft& s, const std::vector<const FrontendDraft*>& users) {
  const std::string& path = s.path;
  if (users.empty()) {
    r.error(s.config.pos, path,
            "no port given for " + quoted(s.config.text) +
                " and no frontend uses this backend, so no preset supplies a default port",
            "write HOST:PORT");
    return;
  }
  for (const FrontendDraft* f : users) {
    if (presetDefaults(f->config.preset).port == 0) {
      r.error(s.config.pos, path,
              "no port given and frontend " + f->config.name + " uses preset " +
                  std::string(presetDefaults(f->config.preset).name) + ", which has no default port",
              "write HOST:PORT");
      return;
    }
  }
  std::set<std::uint16_t> ports;
  std::string list;
  for (const FrontendDraft* f : users) {
    const PresetDefaults& d = presetDefaults(f->config.preset);
    ports.insert(d.port);
    if (!list.empty()) list += ", ";
    list += f->config.name + " (" + std::string(d.name) + ", port " + std::to_string(d.port) + ")";
  }
  if (ports.size() > 1) {
    r.error(s.config.pos, path,
            "no port given and the frontends using this backend imply different default ports: " + list,
            "write HOST:PORT");
    return;
  }
  s.config.port = *ports.begin();
  if (s.config.literal) s.config.literal->setPort(s.config.port);
}

// The same server twice is valid (it gets twice the share) but is almost always a slip.
void warnDuplicateServers(ConfigReader& r, const BackendDraft& b) {
  for (std::size_t i = 0; i < b.servers.size(); ++i) {
    const ServerConfig& s = b.servers[i].config;
    if (s.port == 0) continue;
    for (std::size_t j = 0; j < i; ++j) {
      const ServerConfig& earlier = b.servers[j].config;
      if (earlier.port == 0) continue;
      const bool same = (s.literal && earlier.literal) ? *s.literal == *earlier.literal
                                                       : lower(s.host) == lower(earlier.host) && s.port == earlier.port;
      if (!same) continue;
      r.warning(s.pos, b.servers[i].path,
                "server " + quoted(s.text) + " is listed twice (first at " + lineCol(earlier.pos) + ")",
                "remove one; a server listed twice gets twice the share of new sessions");
      break;
    }
  }
}

}  // namespace

void checkReferences(ConfigReader& r, const std::vector<FrontendDraft>& frontends,
                     std::vector<BackendDraft>& backends) {
  std::vector<std::string> backendNames;
  for (const auto& b : backends) backendNames.push_back(b.config.name);
  for (const auto& f : frontends) {
    if (f.has_backend) checkBackendExists(r, f, backendNames);
  }

  for (auto& b : backends) {
    const std::string path = "backend." + b.config.name;
    std::vector<const FrontendDraft*> users;
    bool usersUncertain = false;  // a user's preset was bad, so its default port is unknown
    for (const auto& f : frontends) {
      if (!f.has_backend || f.config.backend != b.config.name) continue;
      users.push_back(&f);
      if (!f.preset_ok) usersUncertain = true;
    }
    if (users.empty()) {
      r.warning(b.config.pos, path, "backend " + b.config.name + " is not used by any frontend",
                "reference it with backend = \"" + b.config.name + "\" in a [frontend.NAME] table, or remove it");
    }
    if (usersUncertain) continue;
    finishHealth(r, b, users);
    // An NTP client keeps its server (its offset and delay would jump between servers).
    if (!b.balance_given && !users.empty() &&
        std::all_of(users.begin(), users.end(), [](const FrontendDraft* f) { return f->config.preset == Preset::Ntp; })) {
      b.config.balance = Balance::Hash;
    }
    for (ServerDraft& s : b.servers) {
      if (!s.port_given) defaultServerPort(r, s, users);
    }
    warnDuplicateServers(r, b);
  }
}

}  // namespace udpx

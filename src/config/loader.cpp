// The document's top level: [global], the [frontend.NAME] and [backend.NAME] tables in file
// order, each handed to its section loader, then the cross-section checks.
#include <algorithm>
#include <iterator>
#include <utility>

#include "config/sections.h"

namespace udpx {
namespace {

// Collects [section.NAME] tables in file order (toml++ keeps them sorted by name).
std::vector<NamedTable> namedTables(ConfigReader& r, const ConfigNode& section, const std::string& what) {
  std::vector<NamedTable> out;
  for (const ConfigNode::Entry& e : section.entries) {
    const std::string& name = e.key;
    const std::string path = what + "." + name;
    if (!isValidName(name)) {
      r.error(e.key_pos, path, what + " name " + quoted(name) + " may only contain letters, digits, '_' and '-'",
              "rename it, e.g. [" + what + ".main]");
    }
    if (!e.value.isTable()) {
      r.wrongType(e.value, path, "a table", "write [" + what + ".NAME] followed by its keys");
      continue;
    }
    out.push_back(NamedTable{name, &e.value, e.value.pos});
  }
  std::sort(out.begin(), out.end(), [](const NamedTable& a, const NamedTable& b) {
    return std::pair{a.pos.line, a.pos.col} < std::pair{b.pos.line, b.pos.col};
  });
  return out;
}

bool contains(std::span<const std::string_view> names, std::string_view k) {
  return std::find(names.begin(), names.end(), k) != names.end();
}

void unknownTopLevel(ConfigReader& r, const ConfigNode::Entry& e) {
  const std::string_view k = e.key;
  std::string hint;
  if (contains(kGlobalKeys, k)) {
    hint = "move it under [global]; ";
  } else if (contains(kFrontendKeys, k)) {
    hint = "move it into a [frontend.NAME] table; ";
  } else if (contains(kBackendKeys, k)) {
    hint = "move it into a [backend.NAME] table; ";
  } else {
    hint = suggestion(k, kTopLevelTables);
  }
  r.error(e.key_pos, e.key, std::string(e.value.isTable() ? "unknown table " : "unknown key ") + quoted(k),
          hint + "valid tables: " + joinNames(kTopLevelTables));
}

}  // namespace

void loadDocument(ConfigReader& r, const ConfigNode& root, Config& config) {
  const ConfigNode* frontends = nullptr;
  const ConfigNode* backends = nullptr;
  bool frontendTypeError = false;

  for (const ConfigNode::Entry& e : root.entries) {
    const std::string& k = e.key;
    if (k == "global") {
      if (e.value.isTable()) {
        loadGlobal(r, e.value, config.fixed, config.global);
      } else {
        r.wrongType(e.value, k, "a table", "write [global] followed by its keys");
      }
    } else if (k == "frontend" || k == "backend") {
      if (!e.value.isTable()) {
        r.wrongType(e.value, k, "a table", "write [" + k + ".NAME] followed by its keys");
        if (k == "frontend") frontendTypeError = true;
      } else {
        (k == "frontend" ? frontends : backends) = &e.value;
      }
    } else {
      unknownTopLevel(r, e);
    }
  }

  std::vector<BackendDraft> backendDrafts;
  if (backends != nullptr) {
    for (const NamedTable& nt : namedTables(r, *backends, "backend")) backendDrafts.push_back(loadBackend(r, nt));
  }
  std::vector<FrontendDraft> frontendDrafts;
  if (frontends != nullptr) {
    std::vector<TakenListen> taken;
    for (const NamedTable& nt : namedTables(r, *frontends, "frontend")) {
      frontendDrafts.push_back(loadFrontend(r, nt, taken));
    }
  }
  if (frontendDrafts.empty() && !frontendTypeError && (frontends == nullptr || frontends->isEmpty())) {
    r.error(frontends != nullptr ? frontends->pos : SourcePos{}, "frontend", "no frontend is defined",
            "add a [frontend.NAME] table with listen = [\"IP:PORT\"] and backend = \"NAME\"");
  }

  checkReferences(r, frontendDrafts, backendDrafts);
  checkLoops(r, frontendDrafts, backendDrafts);

  for (auto& f : frontendDrafts) config.frontends.push_back(std::move(f.config));
  for (auto& b : backendDrafts) {
    for (auto& s : b.servers) b.config.servers.push_back(std::move(s.config));
    config.backends.push_back(std::move(b.config));
  }
}

}  // namespace udpx

// The TOML config loader: reads the file with toml++, checks every key and value against the
// schema, and reports all problems at once with FILE:LINE:COL, so one edit fixes them all.
#include "config/config.h"

// toml++ (compiled into this file, header-only) checks some of its parser's internal
// preconditions with TOML_ASSERT, and malformed input can break one: the mutated configs of
// RandomInput reach parse_key() at a character that starts no key. The parser goes on to report
// "expected bare key starting character or string delimiter" by itself, so the check must not
// abort a debug build (release builds compile it out; the ASan build checks what follows).
#define TOML_ASSERT(expr) static_assert(true)
#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <memory>
#include <set>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>

#include "config/duration.h"

namespace udpx {
namespace {

using std::chrono::milliseconds;

constexpr std::int64_t kMaxSessionsLimit = 1'048'576;
constexpr std::int64_t kMaxDatagramLimit = 65507;  // largest UDP payload over IPv4
// A year: long enough for any idle timeout, short enough that now + timeout never overflows.
constexpr milliseconds kMaxDuration = std::chrono::hours{24 * 365};
constexpr std::size_t kMaxSuggestDistance = 2;

constexpr std::string_view kTopLevelTables[] = {"global", "frontend", "backend"};
constexpr std::string_view kGlobalKeys[] = {"log_level", "max_sessions", "metrics", "resolvers", "status",
                                            "user", "group", "chroot"};
constexpr std::string_view kFrontendKeys[] = {
    "listen", "preset", "backend", "allow", "session_timeout", "max_sessions", "responses",
    "max_datagram"};
constexpr std::string_view kBackendKeys[] = {"servers", "balance", "fail_timeout", "health",
                                             "on_all_down", "resolve_min", "resolve_max"};
constexpr std::string_view kHealthKeys[] = {"type", "interval", "timeout", "rise", "fall",
                                            "query", "send", "expect"};
constexpr std::string_view kOnAllDown[] = {"forward", "drop"};
constexpr std::int64_t kMaxRiseFall = 100;
// A socket name in the abstract namespace or a file path: sockaddr_un's sun_path holds 108.
constexpr std::size_t kMaxStatusLen = 107;
constexpr std::string_view kLogLevels[] = {"error", "warn", "info", "debug"};
static_assert(static_cast<int>(LogLevel::Error) == 0 && static_cast<int>(LogLevel::Debug) == 3,
              "kLogLevels is indexed by LogLevel");
constexpr std::string_view kBalances[] = {"round-robin", "first"};

constexpr const char* kDurationHint = "use units: 250ms, 2s, 5m";
constexpr const char* kServerHint = "write HOST, HOST:PORT, IP:PORT or [IPv6]:PORT";

SourcePos posOf(const toml::source_region& region) {
  return SourcePos{region.begin.line, region.begin.column};
}

std::string typeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "floating-point number";
    case toml::node_type::boolean: return "boolean";
    case toml::node_type::date: return "date";
    case toml::node_type::time: return "time";
    case toml::node_type::date_time: return "date-time";
    case toml::node_type::array: return "array";
    case toml::node_type::table: return "table";
    case toml::node_type::none: break;
  }
  return "nothing";
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Optimal string alignment distance: like Levenshtein, but a swap of two neighbours
// ("lsiten") counts as one edit, the commonest typo.
std::size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

template <typename Names>
std::string joinNames(const Names& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

// `did you mean "x"? ` when one candidate is close enough to be the intended word.
template <typename Names>
std::string suggestion(std::string_view word, const Names& names) {
  const std::string lw = lower(word);
  std::string best;
  std::size_t bestDistance = kMaxSuggestDistance + 1;
  for (const auto& n : names) {
    const std::string_view name(n);
    const std::size_t dist = editDistance(lw, lower(name));
    // A distance as long as the name itself would "suggest" any short word for any other.
    if (dist < bestDistance && dist < name.size()) {
      bestDistance = dist;
      best = std::string(name);
    }
  }
  if (best.empty()) return "";
  return "did you mean \"" + best + "\"? ";
}

// Names end up in logs and metric labels; keeping them to identifier characters spares every
// consumer from quoting.
bool isValidName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
  });
}

bool looksLikeIpv4(std::string_view host) {
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// RFC 1123 host names (plus '_', common in internal zones), optionally fully qualified.
bool isValidHostName(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty() || host.size() > 253) return false;
  std::size_t start = 0;
  while (start <= host.size()) {
    auto end = host.find('.', start);
    if (end == std::string_view::npos) end = host.size();
    const std::string_view label = host.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (const char c : label) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_';
      if (!ok) return false;
    }
    start = end + 1;
  }
  return true;
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

std::string lineCol(SourcePos pos) {
  return std::to_string(pos.line) + ":" + std::to_string(pos.col);
}

// One [frontend.X] or [backend.X] entry, before it is sorted into file order.
struct NamedTable {
  std::string name;
  const toml::table* table;
  SourcePos pos;
};

struct ServerDraft {
  ServerConfig config;
  std::string path;  // "backend.up.servers[1]", for messages found after the first pass
  bool port_given = false;
};

// What [backend.NAME.health] said explicitly; the rest is filled in once the frontends using
// the backend (and so the probe type) are known.
struct HealthDraft {
  std::optional<ProbeType> type;
  std::optional<std::chrono::milliseconds> interval, timeout;
  std::optional<std::uint32_t> rise, fall;
  SourcePos table_pos, timeout_pos, query_pos, send_pos, expect_pos;
  bool query_given = false, send_given = false, expect_given = false;
};

struct BackendDraft {
  BackendConfig config;
  std::vector<ServerDraft> servers;
  HealthDraft health;
  SourcePos resolve_min_pos;
};

struct FrontendDraft {
  FrontendConfig config;
  bool preset_ok = true;    // false: the preset value was bad (already reported)
  bool has_backend = false; // the backend key was a string
  SourcePos backend_pos;
};

// A listen address already taken, to report duplicates within and across frontends.
struct TakenListen {
  SockAddr addr;
  std::string frontend;
  SourcePos pos;
};

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  LoadResult load(std::string_view text) {
    LoadResult result;
    result.text = std::string(text);
    std::optional<toml::table> root;
#if TOML_EXCEPTIONS
    try {
      root = toml::parse(text, std::string_view(file_));
    } catch (const toml::parse_error& e) {
      addParseError(e);
    }
#else
    toml::parse_result parsed = toml::parse(text, std::string_view(file_));
    if (parsed) {
      root = std::move(parsed).table();
    } else {
      addParseError(parsed.error());
    }
#endif
    if (root) {
      Config config;
      config.file = file_;
      checkRoot(*root, config);
      if (errors_.empty()) result.config = std::move(config);
    }
    sortByPosition(errors_);
    sortByPosition(warnings_);
    result.errors = std::move(errors_);
    result.warnings = std::move(warnings_);
    return result;
  }

 private:
  void addParseError(const toml::parse_error& e) {
    error(posOf(e.source()), "", std::string(e.description()),
          "fix the TOML syntax here; nothing after it was checked");
  }

  void error(SourcePos pos, std::string path, std::string message, std::string hint) {
    errors_.push_back(
        ConfigError{file_, pos, std::move(path), std::move(message), std::move(hint)});
  }
  void warning(SourcePos pos, std::string path, std::string message, std::string hint) {
    warnings_.push_back(
        ConfigError{file_, pos, std::move(path), std::move(message), std::move(hint)});
  }

  static void sortByPosition(std::vector<ConfigError>& list) {
    // Problems without a position (about the file as a whole) go last.
    auto key = [](const ConfigError& e) {
      const std::uint32_t line = e.pos.line == 0 ? UINT32_MAX : e.pos.line;
      return std::pair{line, e.pos.col};
    };
    std::stable_sort(list.begin(), list.end(),
                     [&](const ConfigError& a, const ConfigError& b) { return key(a) < key(b); });
  }

  void wrongType(const toml::node& node, const std::string& path, std::string_view expected,
                 std::string hint = "") {
    error(posOf(node.source()), path,
          "expected " + std::string(expected) + ", got " + typeName(node.type()), std::move(hint));
  }

  // Reports every key of `table` that is not in `valid`, at the key itself.
  template <typename Names>
  void checkKeys(const toml::table& table, const std::string& path, const Names& valid) {
    for (auto&& [key, node] : table) {
      const std::string_view k = key.str();
      if (std::find(std::begin(valid), std::end(valid), k) != std::end(valid)) continue;
      error(posOf(key.source()), path + "." + std::string(k), "unknown key " + quoted(k),
            suggestion(k, valid) + "valid keys: " + joinNames(valid));
    }
  }

  void missingKey(const toml::table& table, const std::string& path, std::string_view key,
                  std::string hint) {
    error(posOf(table.source()), path, "missing required key " + quoted(key), std::move(hint));
  }

  std::optional<std::string> readString(const toml::node& node, const std::string& path) {
    if (const auto* s = node.as_string()) return s->get();
    wrongType(node, path, "a string");
    return std::nullopt;
  }

  std::optional<std::int64_t> readInt(const toml::node& node, const std::string& path,
                                      std::int64_t min, std::int64_t max) {
    const auto* i = node.as_integer();
    if (i == nullptr) {
      wrongType(node, path, "an integer");
      return std::nullopt;
    }
    const std::int64_t v = i->get();
    if (v < min || v > max) {
      error(posOf(node.source()), path, std::to_string(v) + " is out of range",
            "use " + std::to_string(min) + ".." + std::to_string(max));
      return std::nullopt;
    }
    return v;
  }

  std::optional<milliseconds> readDuration(const toml::node& node, const std::string& path) {
    if (const auto* i = node.as_integer()) {
      const std::string n = std::to_string(i->get());
      error(posOf(node.source()), path, "expected a duration string, got integer",
            "units are required: write \"" + n + "s\" or \"" + n + "ms\"");
      return std::nullopt;
    }
    const auto* s = node.as_string();
    if (s == nullptr) {
      wrongType(node, path, "a duration string", kDurationHint);
      return std::nullopt;
    }
    const auto d = parseDuration(s->get());
    if (!d) {
      error(posOf(node.source()), path, "bad duration " + quoted(s->get()), kDurationHint);
      return std::nullopt;
    }
    if (*d < milliseconds{1} || *d > kMaxDuration) {
      error(posOf(node.source()), path, "duration " + quoted(s->get()) + " is out of range",
            "use 1ms.." + formatDuration(kMaxDuration));
      return std::nullopt;
    }
    return d;
  }

  // Returns the index of the value in `names`.
  template <typename Names>
  std::optional<std::size_t> readEnum(const toml::node& node, const std::string& path,
                                      std::string_view what, const Names& names) {
    const auto value = readString(node, path);
    if (!value) return std::nullopt;
    for (std::size_t i = 0; i < std::size(names); ++i) {
      if (names[i] == *value) return i;
    }
    error(posOf(node.source()), path, "unknown " + std::string(what) + " " + quoted(*value),
          suggestion(*value, names) + "valid values: " + joinNames(names));
    return std::nullopt;
  }

  struct ListItem {
    std::string text;
    std::string path;
    SourcePos pos;
  };

  // A string or an array of strings; bad elements are reported and skipped.
  // Returns nullopt when the value is not usable at all (wrong type or empty).
  std::optional<std::vector<ListItem>> readStringList(const toml::node& node,
                                                      const std::string& path,
                                                      const std::string& emptyHint) {
    std::vector<ListItem> items;
    if (const auto* s = node.as_string()) {
      items.push_back(ListItem{s->get(), path, posOf(node.source())});
      return items;
    }
    const auto* array = node.as_array();
    if (array == nullptr) {
      wrongType(node, path, "an array of strings");
      return std::nullopt;
    }
    if (array->empty()) {
      error(posOf(node.source()), path, "is empty", emptyHint);
      return std::nullopt;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      const std::string elementPath = path + "[" + std::to_string(i) + "]";
      if (const auto* s = element.as_string()) {
        items.push_back(ListItem{s->get(), elementPath, posOf(element.source())});
      } else {
        wrongType(element, elementPath, "a string");
      }
    }
    return items;
  }

  // Collects [section.NAME] tables in file order (toml++ keeps them sorted by name).
  std::vector<NamedTable> namedTables(const toml::table& section, const std::string& what) {
    std::vector<NamedTable> out;
    for (auto&& [key, node] : section) {
      const std::string name(key.str());
      const std::string path = what + "." + name;
      if (!isValidName(name)) {
        error(posOf(key.source()), path,
              what + " name " + quoted(name) + " may only contain letters, digits, '_' and '-'",
              "rename it, e.g. [" + what + ".main]");
      }
      const auto* table = node.as_table();
      if (table == nullptr) {
        wrongType(node, path, "a table", "write [" + what + ".NAME] followed by its keys");
        continue;
      }
      out.push_back(NamedTable{name, table, posOf(table->source())});
    }
    std::sort(out.begin(), out.end(), [](const NamedTable& a, const NamedTable& b) {
      return std::pair{a.pos.line, a.pos.col} < std::pair{b.pos.line, b.pos.col};
    });
    return out;
  }

  void checkRoot(const toml::table& root, Config& config) {
    const toml::table* frontends = nullptr;
    const toml::table* backends = nullptr;
    bool frontendTypeError = false;

    for (auto&& [key, node] : root) {
      const std::string_view k = key.str();
      const std::string path(k);
      if (k == "global") {
        if (const auto* t = node.as_table()) {
          checkGlobal(*t, config.global);
        } else {
          wrongType(node, path, "a table", "write [global] followed by its keys");
        }
      } else if (k == "frontend" || k == "backend") {
        const auto* t = node.as_table();
        if (t == nullptr) {
          wrongType(node, path, "a table", "write [" + path + ".NAME] followed by its keys");
          if (k == "frontend") frontendTypeError = true;
        } else {
          (k == "frontend" ? frontends : backends) = t;
        }
      } else {
        unknownTopLevel(key, node);
      }
    }

    std::vector<BackendDraft> backendDrafts;
    if (backends != nullptr) {
      for (const NamedTable& nt : namedTables(*backends, "backend")) {
        backendDrafts.push_back(checkBackend(nt));
      }
    }
    std::vector<FrontendDraft> frontendDrafts;
    if (frontends != nullptr) {
      std::vector<TakenListen> taken;
      for (const NamedTable& nt : namedTables(*frontends, "frontend")) {
        frontendDrafts.push_back(checkFrontend(nt, taken));
      }
    }
    if (frontendDrafts.empty() && !frontendTypeError &&
        (frontends == nullptr || frontends->empty())) {
      error(frontends != nullptr ? posOf(frontends->source()) : SourcePos{}, "frontend",
            "no frontend is defined",
            "add a [frontend.NAME] table with listen = [\"IP:PORT\"] and backend = \"NAME\"");
    }

    checkReferences(frontendDrafts, backendDrafts);

    for (auto& f : frontendDrafts) config.frontends.push_back(std::move(f.config));
    for (auto& b : backendDrafts) {
      for (auto& s : b.servers) b.config.servers.push_back(std::move(s.config));
      config.backends.push_back(std::move(b.config));
    }
  }

  void unknownTopLevel(const toml::key& key, const toml::node& node) {
    const std::string_view k = key.str();
    std::string hint;
    if (std::find(std::begin(kGlobalKeys), std::end(kGlobalKeys), k) != std::end(kGlobalKeys)) {
      hint = "move it under [global]; ";
    } else if (std::find(std::begin(kFrontendKeys), std::end(kFrontendKeys), k) !=
               std::end(kFrontendKeys)) {
      hint = "move it into a [frontend.NAME] table; ";
    } else if (std::find(std::begin(kBackendKeys), std::end(kBackendKeys), k) !=
               std::end(kBackendKeys)) {
      hint = "move it into a [backend.NAME] table; ";
    } else {
      hint = suggestion(k, kTopLevelTables);
    }
    error(posOf(key.source()), std::string(k),
          std::string(node.is_table() ? "unknown table " : "unknown key ") + quoted(k),
          hint + "valid tables: " + joinNames(kTopLevelTables));
  }

  void checkGlobal(const toml::table& table, GlobalConfig& global) {
    checkKeys(table, "global", kGlobalKeys);
    if (const auto* n = table.get("log_level")) {
      if (const auto i = readEnum(*n, "global.log_level", "log level", kLogLevels)) {
        global.log_level = static_cast<LogLevel>(*i);  // kLogLevels is in LogLevel order
      }
    }
    if (const auto* n = table.get("max_sessions")) {
      if (const auto v = readInt(*n, "global.max_sessions", 1, kMaxSessionsLimit)) {
        global.max_sessions = static_cast<std::uint32_t>(*v);
      }
    }
    if (const auto* n = table.get("metrics")) {
      if (const auto s = readString(*n, "global.metrics")) {
        global.metrics = checkMetricsAddress(*s, posOf(n->source()));
      }
    }
    if (const auto* n = table.get("resolvers")) {
      constexpr const char* kHint = "write IP:PORT or [IPv6]:PORT, e.g. \"127.0.0.1:53\"";
      const auto items = readStringList(*n, "global.resolvers",
                                        "list at least one resolver, or remove the key to use /etc/resolv.conf");
      for (const ListItem& item : items.value_or(std::vector<ListItem>{})) {
        std::string host;
        std::optional<std::uint16_t> port;
        std::string why;
        if (!splitHostPort(item.text, host, port, why)) {
          error(item.pos, item.path, "bad resolver " + quoted(item.text) + ": " + why, kHint);
          continue;
        }
        auto addr = SockAddr::parseIp(host, port.value_or(53));
        if (!addr) {
          error(item.pos, item.path, quoted(host) + " is not a literal IP address",
                std::string("a resolver cannot itself be a host name; ") + kHint);
          continue;
        }
        global.resolvers.push_back(*addr);
      }
    }
    if (const auto* n = table.get("status")) {
      if (auto v = readString(*n, "global.status")) {
        const bool ok = *v == "off" || (v->size() > 1 && v->size() <= kMaxStatusLen && ((*v)[0] == '@' || (*v)[0] == '/'));
        if (ok) {
          global.status = *v;
        } else {
          error(posOf(n->source()), "global.status", "bad status endpoint " + quoted(*v),
                "write \"@NAME\" (an abstract unix socket), an absolute socket path such as "
                "\"/run/udpx.sock\" (at most 107 characters), or \"off\"; remove the key for the default");
        }
      }
    }
    readAccountName(table, "user", global.user, global.user_pos);
    readAccountName(table, "group", global.group, global.group_pos);
    if (const auto* n = table.get("chroot")) {
      if (auto dir = readString(*n, "global.chroot")) {
        if (dir->empty() || dir->front() != '/') {
          error(posOf(n->source()), "global.chroot", "chroot directory " + quoted(*dir) + " is not an absolute path",
                "write an absolute path such as \"/var/empty\", or remove the key");
        } else {
          global.chroot = *dir;
          global.chroot_pos = posOf(n->source());
        }
      }
    }
  }

  // The HTTP endpoint's address: a literal IP and an explicit TCP port.
  std::optional<SockAddr> checkMetricsAddress(const std::string& text, SourcePos pos) {
    constexpr const char* kHint =
        "write IP:PORT, e.g. \"127.0.0.1:9123\" or \"[::1]:9123\"; remove the key to turn the endpoint off";
    const std::string path = "global.metrics";
    std::string host;
    std::optional<std::uint16_t> port;
    std::string why;
    if (!splitHostPort(text, host, port, why)) {
      error(pos, path, "bad address " + quoted(text) + ": " + why, kHint);
      return std::nullopt;
    }
    auto addr = SockAddr::parseIp(host, port.value_or(0));
    if (!addr) {
      error(pos, path, quoted(host) + " is not a literal IP address",
            "host names are not resolved for listen addresses; " + std::string(kHint));
      return std::nullopt;
    }
    if (!port) {  // (port 0 is refused by splitHostPort)
      error(pos, path, "no port given in " + quoted(text), "Prometheus needs a fixed port to scrape; " + std::string(kHint));
      return std::nullopt;
    }
    return addr;
  }

  // global.user / global.group: a name as in /etc/passwd or /etc/group (checked at startup).
  void readAccountName(const toml::table& table, std::string_view key, std::string& out, SourcePos& pos) {
    const auto* n = table.get(key);
    if (n == nullptr) return;
    const std::string path = "global." + std::string(key);
    auto name = readString(*n, path);
    if (!name) return;
    const bool ok = !name->empty() && name->size() <= 32 && std::all_of(name->begin(), name->end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
             c == '.';
    }) && name->front() != '-';
    if (!ok) {
      error(posOf(n->source()), path, quoted(*name) + " is not a valid " + std::string(key) + " name",
            "write an account name such as \"udpx\" (letters, digits, '_', '-', '.')");
      return;
    }
    out = *name;
    pos = posOf(n->source());
  }

  BackendDraft checkBackend(const NamedTable& nt) {
    const std::string path = "backend." + nt.name;
    const toml::table& table = *nt.table;
    BackendDraft draft;
    draft.config.name = nt.name;
    draft.config.pos = nt.pos;
    checkKeys(table, path, kBackendKeys);

    if (const auto* n = table.get("servers")) {
      const auto items = readStringList(*n, path + ".servers",
                                        "list at least one server: servers = [\"HOST:PORT\"]");
      for (const ListItem& item : items.value_or(std::vector<ListItem>{})) {
        if (auto server = checkServer(item)) draft.servers.push_back(std::move(*server));
      }
    } else {
      missingKey(table, path, "servers", "add servers = [\"HOST:PORT\"]");
    }
    if (const auto* n = table.get("balance")) {
      if (const auto i = readEnum(*n, path + ".balance", "balance", kBalances)) {
        draft.config.balance = *i == 0 ? Balance::RoundRobin : Balance::First;
      }
    }
    if (const auto* n = table.get("fail_timeout")) {
      if (const auto d = readDuration(*n, path + ".fail_timeout")) draft.config.fail_timeout = *d;
    }
    if (const auto* n = table.get("on_all_down")) {
      if (const auto i = readEnum(*n, path + ".on_all_down", "on_all_down", kOnAllDown)) {
        draft.config.on_all_down = *i == 0 ? OnAllDown::Forward : OnAllDown::Drop;
      }
    }
    if (const auto* n = table.get("resolve_min")) {
      if (const auto d = readDuration(*n, path + ".resolve_min")) draft.config.resolve_min = *d;
      draft.resolve_min_pos = posOf(n->source());
    }
    if (const auto* n = table.get("resolve_max")) {
      if (const auto d = readDuration(*n, path + ".resolve_max")) draft.config.resolve_max = *d;
    }
    if (draft.config.resolve_min > draft.config.resolve_max) {
      error(draft.resolve_min_pos.line ? draft.resolve_min_pos : nt.pos, path + ".resolve_min",
            "resolve_min " + formatDuration(draft.config.resolve_min) + " is longer than resolve_max " +
                formatDuration(draft.config.resolve_max),
            "make resolve_min <= resolve_max");
    }
    if (const auto* n = table.get("health")) {
      if (const auto* t = n->as_table()) {
        checkHealth(*t, path + ".health", draft.config.health, draft.health);
      } else {
        wrongType(*n, path + ".health", "a table", "write [" + path + ".health] followed by its keys");
      }
    }
    return draft;
  }

  void checkHealth(const toml::table& table, const std::string& path, HealthConfig& h, HealthDraft& d) {
    checkKeys(table, path, kHealthKeys);
    d.table_pos = posOf(table.source());
    if (const auto* n = table.get("type")) {
      if (const auto i = readEnum(*n, path + ".type", "probe type", probeTypeNames())) {
        d.type = probeTypeFromName(probeTypeNames()[*i]);
      }
    }
    if (const auto* n = table.get("interval")) d.interval = readDuration(*n, path + ".interval");
    if (const auto* n = table.get("timeout")) {
      d.timeout = readDuration(*n, path + ".timeout");
      d.timeout_pos = posOf(n->source());
    }
    if (const auto* n = table.get("rise")) {
      if (const auto v = readInt(*n, path + ".rise", 1, kMaxRiseFall)) d.rise = static_cast<std::uint32_t>(*v);
    }
    if (const auto* n = table.get("fall")) {
      if (const auto v = readInt(*n, path + ".fall", 1, kMaxRiseFall)) d.fall = static_cast<std::uint32_t>(*v);
    }
    if (const auto* n = table.get("query")) {
      d.query_given = true;
      d.query_pos = posOf(n->source());
      if (auto q = readString(*n, path + ".query")) {
        if (*q == "." || isValidHostName(*q)) {
          h.probe.query = *q;
        } else {
          error(d.query_pos, path + ".query", quoted(*q) + " is not a valid DNS name",
                "write a name the resolver answers, e.g. \"example.org\", or \".\" for the root");
        }
      }
    }
    auto readHex = [&](const char* key, std::vector<std::uint8_t>& out, bool& given, SourcePos& pos) {
      const auto* n = table.get(key);
      if (n == nullptr) return;
      given = true;
      pos = posOf(n->source());
      auto text = readString(*n, path + "." + key);
      if (!text) return;
      auto bytes = parseHex(*text);
      if (!bytes || bytes->size() > kMaxProbeLen) {
        error(pos, path + "." + key, "bad hex payload " + quoted(*text),
              "write pairs of hex digits, optionally separated by spaces, at most " +
                  std::to_string(kMaxProbeLen) + " bytes: \"0a 1b 2c\"");
        return;
      }
      out = std::move(*bytes);
    };
    readHex("send", h.probe.send, d.send_given, d.send_pos);
    readHex("expect", h.probe.expect, d.expect_given, d.expect_pos);
  }

  // Completes a backend's health checks once its users are known: the probe type (given, or
  // agreed by the presets of the frontends using it), the type's defaults, consistency.
  void finishHealth(BackendDraft& b, const std::vector<const FrontendDraft*>& users) {
    const std::string path = "backend." + b.config.name + ".health";
    HealthDraft& d = b.health;
    HealthConfig& h = b.config.health;
    if (d.type) {
      h.probe.type = *d.type;
    } else {
      std::set<ProbeType> types;
      std::string list;
      for (const FrontendDraft* f : users) {
        const ProbeType t = defaultProbeType(f->config.preset);
        types.insert(t);
        if (!list.empty()) list += ", ";
        list += f->config.name + " (" + std::string(presetDefaults(f->config.preset).name) + ": " +
                std::string(probeTypeName(t)) + ")";
      }
      if (types.size() > 1) {
        error(d.table_pos.line ? d.table_pos : b.config.pos, path,
              "the frontends using backend " + b.config.name + " imply different health probes: " + list,
              "set the probe explicitly: [" + path + "] type = \"ntp\" | \"dns\" | \"raw\" | \"none\"");
        return;
      }
      h.probe.type = types.empty() ? ProbeType::None : *types.begin();
    }
    const ProbeDefaults& def = probeDefaults(h.probe.type);
    h.interval = d.interval.value_or(def.interval);
    h.timeout = d.timeout.value_or(std::min(def.timeout, h.interval));
    h.rise = d.rise.value_or(def.rise);
    h.fall = d.fall.value_or(def.fall);
    if (h.timeout > h.interval) {
      error(d.timeout_pos, path + ".timeout",
            "timeout " + formatDuration(h.timeout) + " is longer than interval " + formatDuration(h.interval),
            "a probe must be answered before the next one is sent: make timeout <= interval");
    }
    if (d.query_given && h.probe.type != ProbeType::Dns) {
      error(d.query_pos, path + ".query", "query is only used by dns probes (this backend's probe is " +
                                              std::string(probeTypeName(h.probe.type)) + ")",
            "remove it, or set type = \"dns\"");
    }
    for (auto [given, pos, key] : {std::tuple{d.send_given, d.send_pos, "send"}, std::tuple{d.expect_given, d.expect_pos, "expect"}}) {
      if (given && h.probe.type != ProbeType::Raw) {
        error(pos, path + "." + key, std::string(key) + " is only used by raw probes (this backend's probe is " +
                                         std::string(probeTypeName(h.probe.type)) + ")",
              "remove it, or set type = \"raw\"");
      }
    }
    if (d.expect_given && !d.send_given && h.probe.type == ProbeType::Raw) {
      error(d.expect_pos, path + ".expect", "expect without send: nothing is sent, so nothing can be expected",
            "add send = \"HEX\" with the probe's payload");
    }
  }

  std::optional<ServerDraft> checkServer(const ListItem& item) {
    ServerDraft draft;
    draft.config.text = item.text;
    draft.config.pos = item.pos;
    draft.path = item.path;
    std::optional<std::uint16_t> port;
    std::string why;
    if (!splitHostPort(item.text, draft.config.host, port, why)) {
      error(item.pos, item.path, "bad server " + quoted(item.text) + ": " + why, kServerHint);
      return std::nullopt;
    }
    const std::string& host = draft.config.host;
    draft.port_given = port.has_value();
    draft.config.port = port.value_or(0);
    if (host.find(':') != std::string::npos || looksLikeIpv4(host)) {
      draft.config.literal = SockAddr::parseIp(host, draft.config.port);
      if (!draft.config.literal) {
        error(item.pos, item.path, quoted(host) + " is not a valid IP address", kServerHint);
        return std::nullopt;
      }
    } else if (!isValidHostName(host)) {
      error(item.pos, item.path, quoted(host) + " is not a valid host name",
            "use letters, digits, '-' and '.', or an IP address");
      return std::nullopt;
    }
    return draft;
  }

  FrontendDraft checkFrontend(const NamedTable& nt, std::vector<TakenListen>& taken) {
    const std::string path = "frontend." + nt.name;
    const toml::table& table = *nt.table;
    FrontendDraft draft;
    FrontendConfig& f = draft.config;
    f.name = nt.name;
    f.pos = nt.pos;
    checkKeys(table, path, kFrontendKeys);

    if (const auto* n = table.get("preset")) {
      if (const auto i = readEnum(*n, path + ".preset", "preset", presetNames())) {
        f.preset = presetFromName(presetNames()[*i]).value_or(Preset::Raw);
      } else {
        draft.preset_ok = false;
      }
    }
    const PresetDefaults& defaults = presetDefaults(f.preset);
    f.session_timeout = defaults.session_timeout;
    f.responses = defaults.responses;
    f.max_datagram = defaults.max_datagram;

    if (const auto* n = table.get("listen")) {
      const auto items = readStringList(
          *n, path + ".listen", "list at least one address: listen = [\"192.168.0.1:123\"]");
      for (const ListItem& item : items.value_or(std::vector<ListItem>{})) {
        if (auto addr = checkListen(item)) {
          if (claimListen(*addr, item, nt.name, taken)) f.listen.push_back(*addr);
        }
      }
    } else {
      missingKey(table, path, "listen", "add listen = [\"IP:PORT\"]");
    }

    if (const auto* n = table.get("backend")) {
      if (auto name = readString(*n, path + ".backend")) {
        f.backend = std::move(*name);
        draft.has_backend = true;
        draft.backend_pos = posOf(n->source());
      }
    } else {
      missingKey(table, path, "backend", "add backend = \"NAME\" naming a [backend.NAME] table");
    }

    if (const auto* n = table.get("allow")) {
      const auto items = readStringList(
          *n, path + ".allow",
          "an empty list refuses every client: remove the key for the default private ranges, "
          "or write [\"0.0.0.0/0\", \"::/0\"] to allow everyone");
      for (const ListItem& item : items.value_or(std::vector<ListItem>{})) {
        std::string why;
        if (auto cidr = Cidr::parse(item.text, why)) {
          f.allow.push_back(*cidr);
        } else {
          error(item.pos, item.path, "bad CIDR " + quoted(item.text) + ": " + why,
                "write a prefix such as 192.168.0.0/16 or fd00::/8");
        }
      }
    } else {
      f.allow = defaultAllowList();
    }

    if (const auto* n = table.get("session_timeout")) {
      if (const auto d = readDuration(*n, path + ".session_timeout")) f.session_timeout = *d;
    }
    if (const auto* n = table.get("max_sessions")) {
      if (const auto v = readInt(*n, path + ".max_sessions", 1, kMaxSessionsLimit)) {
        f.max_sessions = static_cast<std::uint32_t>(*v);
      }
    }
    if (const auto* n = table.get("responses")) {
      if (const auto v = readResponses(*n, path + ".responses")) f.responses = *v;
    }
    if (const auto* n = table.get("max_datagram")) {
      if (const auto v = readInt(*n, path + ".max_datagram", 1, kMaxDatagramLimit)) {
        f.max_datagram = static_cast<std::uint32_t>(*v);
      }
    }
    return draft;
  }

  std::optional<std::uint32_t> readResponses(const toml::node& node, const std::string& path) {
    constexpr const char* kExpected = "expected an integer or \"unlimited\"";
    if (const auto* s = node.as_string()) {
      if (s->get() == "unlimited") return kUnlimitedResponses;
      error(posOf(node.source()), path, std::string(kExpected) + ", got " + quoted(s->get()),
            "write a count such as 1, 0 for one-way traffic, or \"unlimited\"");
      return std::nullopt;
    }
    if (!node.is_integer()) {
      error(posOf(node.source()), path, std::string(kExpected) + ", got " + typeName(node.type()),
            "write a count such as 1, 0 for one-way traffic, or \"unlimited\"");
      return std::nullopt;
    }
    // kUnlimitedResponses itself is reserved for "unlimited".
    const auto v = readInt(node, path, 0, std::int64_t{kUnlimitedResponses} - 1);
    if (!v) return std::nullopt;
    return static_cast<std::uint32_t>(*v);
  }

  std::optional<SockAddr> checkListen(const ListItem& item) {
    constexpr const char* kHint = "write IP:PORT, e.g. 192.168.0.1:123, 0.0.0.0:123 or [::]:123";
    std::string host;
    std::optional<std::uint16_t> port;
    std::string why;
    if (!splitHostPort(item.text, host, port, why)) {
      error(item.pos, item.path, "bad listen address " + quoted(item.text) + ": " + why, kHint);
      return std::nullopt;
    }
    auto addr = SockAddr::parseIp(host, port.value_or(0));
    if (!addr) {
      error(item.pos, item.path, quoted(host) + " is not a literal IP address",
            "host names are not resolved for listen addresses; " + std::string(kHint));
      return std::nullopt;
    }
    if (!port) {
      error(item.pos, item.path, "no port given in " + quoted(item.text), kHint);
      return std::nullopt;
    }
    return addr;
  }

  // Records a listen address; reports it if another frontend (or this one) already has it.
  bool claimListen(const SockAddr& addr, const ListItem& item, const std::string& frontend,
                   std::vector<TakenListen>& taken) {
    for (const TakenListen& t : taken) {
      // NOTE: a wildcard socket (0.0.0.0:P, [::]:P) takes port P on every local address of its
      // family, so a specific address with the same port could never be bound beside it.
      const bool overlaps = !(t.addr == addr) && t.addr.family() == addr.family() &&
                            t.addr.port() == addr.port() && (t.addr.isWildcard() || addr.isWildcard());
      if (overlaps) {
        error(item.pos, item.path,
              quoted(item.text) + " overlaps " + t.addr.toString() + " of frontend " + t.frontend + " (" +
                  lineCol(t.pos) + ")",
              "a wildcard address takes the port on every local address; listen on the wildcard only, or on "
              "specific addresses only");
        return false;
      }
      if (!(t.addr == addr)) continue;
      const std::string where = lineCol(t.pos);
      if (t.frontend == frontend) {
        error(item.pos, item.path, quoted(item.text) + " is listed twice (first at " + where + ")",
              "remove one of them");
      } else {
        error(item.pos, item.path,
              quoted(item.text) + " is already a listen address of frontend " + t.frontend +
                  " (" + where + ")",
              "an address:port can belong to one frontend only; change the port or remove one");
      }
      return false;
    }
    taken.push_back(TakenListen{addr, frontend, item.pos});
    return true;
  }

  // Cross-checks: every frontend names a defined backend, every backend is used, and a server
  // written without a port gets the default port of the preset of the frontends using it.
  void checkReferences(const std::vector<FrontendDraft>& frontends,
                       std::vector<BackendDraft>& backends) {
    std::vector<std::string> backendNames;
    for (const auto& b : backends) backendNames.push_back(b.config.name);

    for (const auto& f : frontends) {
      if (!f.has_backend) continue;
      if (std::find(backendNames.begin(), backendNames.end(), f.config.backend) !=
          backendNames.end()) {
        continue;
      }
      const std::string path = "frontend." + f.config.name + ".backend";
      if (backendNames.empty()) {
        error(f.backend_pos, path, "backend " + f.config.backend + " is not defined",
              "no backend is defined: add a [backend." + f.config.backend +
                  "] table with servers = [\"HOST:PORT\"]");
      } else {
        error(f.backend_pos, path, "backend " + f.config.backend + " is not defined",
              suggestion(f.config.backend, backendNames) +
                  "defined backends: " + joinNames(backendNames));
      }
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
        warning(b.config.pos, path, "backend " + b.config.name + " is not used by any frontend",
                "reference it with backend = \"" + b.config.name +
                    "\" in a [frontend.NAME] table, or remove it");
      }
      if (usersUncertain) continue;
      finishHealth(b, users);

      for (std::size_t i = 0; i < b.servers.size(); ++i) {
        ServerDraft& s = b.servers[i];
        if (!s.port_given) defaultServerPort(s, users);
      }
      warnDuplicateServers(b);
    }
  }

  void defaultServerPort(ServerDraft& s, const std::vector<const FrontendDraft*>& users) {
    const std::string& path = s.path;
    if (users.empty()) {
      error(s.config.pos, path,
            "no port given for " + quoted(s.config.text) +
                " and no frontend uses this backend, so no preset supplies a default port",
            "write HOST:PORT");
      return;
    }
    for (const FrontendDraft* f : users) {
      if (presetDefaults(f->config.preset).port == 0) {
        error(s.config.pos, path,
              "no port given and frontend " + f->config.name + " uses preset " +
                  std::string(presetDefaults(f->config.preset).name) +
                  ", which has no default port",
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
      list += f->config.name + " (" + std::string(d.name) + ", port " +
              std::to_string(d.port) + ")";
    }
    if (ports.size() > 1) {
      error(s.config.pos, path,
            "no port given and the frontends using this backend imply different default ports: " +
                list,
            "write HOST:PORT");
      return;
    }
    s.config.port = *ports.begin();
    if (s.config.literal) s.config.literal->setPort(s.config.port);
  }

  // The same server twice is valid (it gets twice the share) but is almost always a slip.
  void warnDuplicateServers(const BackendDraft& b) {
    for (std::size_t i = 0; i < b.servers.size(); ++i) {
      const ServerConfig& s = b.servers[i].config;
      if (s.port == 0) continue;
      for (std::size_t j = 0; j < i; ++j) {
        const ServerConfig& earlier = b.servers[j].config;
        if (earlier.port == 0) continue;
        const bool same = (s.literal && earlier.literal)
                              ? *s.literal == *earlier.literal
                              : lower(s.host) == lower(earlier.host) && s.port == earlier.port;
        if (!same) continue;
        warning(s.pos, b.servers[i].path,
                "server " + quoted(s.text) + " is listed twice (first at " + lineCol(earlier.pos) +
                    ")",
                "remove one; a server listed twice gets twice the share of new sessions");
        break;
      }
    }
  }

  std::string file_;
  std::vector<ConfigError> errors_;
  std::vector<ConfigError> warnings_;
};

}  // namespace

const BackendConfig* Config::findBackend(const std::string& name) const noexcept {
  for (const BackendConfig& b : backends) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

std::string ConfigError::format() const {
  std::string out;
  if (!file.empty()) {
    out += file;
    if (pos.line != 0) out += ":" + std::to_string(pos.line) + ":" + std::to_string(pos.col);
    out += ": ";
  }
  if (!path.empty()) out += path + ": ";
  out += message;
  if (!hint.empty()) out += " (" + hint + ")";
  return out;
}

LoadResult loadConfigString(std::string_view text, const std::string& name) {
  try {
    return Loader(name).load(text);
  } catch (const std::exception& e) {
    // Only allocation failure can get here; the caller still gets a LoadResult, not a throw.
    LoadResult result;
    result.errors.push_back(
        ConfigError{name, {}, "", std::string("internal error: ") + e.what(), ""});
    return result;
  }
}

LoadResult loadConfigFile(const std::string& path) {
  LoadResult result;
  try {
    std::string text;
    std::error_code ec;
    {
      const std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"),
                                                              &std::fclose);
      if (!f) {
        ec.assign(errno, std::generic_category());
      } else {
        char buf[16384];
        std::size_t n = 0;
        while ((n = std::fread(buf, 1, sizeof(buf), f.get())) > 0) text.append(buf, n);
        // NOTE: fopen succeeds on a directory; the error (EISDIR) only shows on read.
        if (std::ferror(f.get())) ec.assign(errno, std::generic_category());
      }
    }
    if (ec) {
      // No file name or position in front: the message names the file, which has no lines.
      result.errors.push_back(ConfigError{"", {}, "", "cannot read " + path + ": " + ec.message(),
                                          "check the path and its permissions"});
      return result;
    }
    return loadConfigString(text, path);
  } catch (const std::exception& e) {
    result.errors.push_back(
        ConfigError{path, {}, "", std::string("internal error: ") + e.what(), ""});
    return result;
  }
}

}  // namespace udpx

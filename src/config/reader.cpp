// Typed reads from config nodes and the problem list: the wording every config message shares.
#include "config/reader.h"

#include <algorithm>
#include <utility>

#include "config/duration.h"

namespace udpx {
namespace {

using std::chrono::milliseconds;

// A year: long enough for any idle timeout, short enough that now + timeout never overflows.
constexpr milliseconds kMaxDuration = std::chrono::hours{24 * 365};
constexpr std::size_t kMaxSuggestDistance = 2;
constexpr std::size_t kMaxSuggestWord = 64;
constexpr const char* kDurationHint = "use units: 250ms, 2s, 5m";

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
std::string suggestionAmong(std::string_view word, const Names& names) {
  // The distance table is word × name: a megabyte-long value must not cost gigabytes. Nothing
  // that long is a typo of a short name anyway.
  if (word.size() > kMaxSuggestWord) return "";
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

void sortByPosition(std::vector<ConfigError>& list) {
  // Problems without a position (about the file as a whole) go last.
  auto key = [](const ConfigError& e) {
    const std::uint32_t line = e.pos.line == 0 ? UINT32_MAX : e.pos.line;
    return std::pair{line, e.pos.col};
  };
  std::stable_sort(list.begin(), list.end(),
                   [&](const ConfigError& a, const ConfigError& b) { return key(a) < key(b); });
}

}  // namespace

void ConfigReader::error(SourcePos pos, std::string path, std::string message, std::string hint) {
  errors_.push_back(ConfigError{file_, pos, std::move(path), std::move(message), std::move(hint)});
}

void ConfigReader::warning(SourcePos pos, std::string path, std::string message, std::string hint) {
  warnings_.push_back(ConfigError{file_, pos, std::move(path), std::move(message), std::move(hint)});
}

void ConfigReader::moveProblemsTo(LoadResult& result) {
  sortByPosition(errors_);
  sortByPosition(warnings_);
  result.errors = std::move(errors_);
  result.warnings = std::move(warnings_);
}

void ConfigReader::wrongType(const ConfigNode& node, const std::string& path, std::string_view expected,
                             std::string hint) {
  error(node.pos, path, "expected " + std::string(expected) + ", got " + std::string(typeName(node.type)),
        std::move(hint));
}

void ConfigReader::checkKeys(const ConfigNode& table, const std::string& path,
                             std::span<const std::string_view> valid) {
  for (const ConfigNode::Entry& e : table.entries) {
    const std::string_view k = e.key;
    if (std::find(valid.begin(), valid.end(), k) != valid.end()) continue;
    error(e.key_pos, path + "." + e.key, "unknown key " + quoted(k),
          suggestion(k, valid) + "valid keys: " + joinNames(valid));
  }
}

void ConfigReader::missingKey(const ConfigNode& table, const std::string& path, std::string_view key,
                              std::string hint) {
  error(table.pos, path, "missing required key " + quoted(key), std::move(hint));
}

std::optional<std::string> ConfigReader::readString(const ConfigNode& node, const std::string& path) {
  if (node.type == ConfigNode::Type::String) return node.text;
  wrongType(node, path, "a string");
  return std::nullopt;
}

std::optional<std::int64_t> ConfigReader::readInt(const ConfigNode& node, const std::string& path,
                                                  std::int64_t min, std::int64_t max) {
  if (node.type != ConfigNode::Type::Integer) {
    wrongType(node, path, "an integer");
    return std::nullopt;
  }
  const std::int64_t v = node.integer;
  if (v < min || v > max) {
    error(node.pos, path, std::to_string(v) + " is out of range",
          "use " + std::to_string(min) + ".." + std::to_string(max));
    return std::nullopt;
  }
  return v;
}

std::optional<milliseconds> ConfigReader::readDuration(const ConfigNode& node, const std::string& path) {
  if (node.type == ConfigNode::Type::Integer) {
    const std::string n = std::to_string(node.integer);
    error(node.pos, path, "expected a duration string, got integer",
          "units are required: write \"" + n + "s\" or \"" + n + "ms\"");
    return std::nullopt;
  }
  if (node.type != ConfigNode::Type::String) {
    wrongType(node, path, "a duration string", kDurationHint);
    return std::nullopt;
  }
  const auto d = parseDuration(node.text);
  if (!d) {
    error(node.pos, path, "bad duration " + quoted(node.text), kDurationHint);
    return std::nullopt;
  }
  if (*d < milliseconds{1} || *d > kMaxDuration) {
    error(node.pos, path, "duration " + quoted(node.text) + " is out of range",
          "use 1ms.." + formatDuration(kMaxDuration));
    return std::nullopt;
  }
  return d;
}

std::optional<std::size_t> ConfigReader::readChoice(const ConfigNode& node, const std::string& path,
                                                    std::string_view what, std::span<const std::string_view> names) {
  const auto value = readString(node, path);
  if (!value) return std::nullopt;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == *value) return i;
  }
  error(node.pos, path, "unknown " + std::string(what) + " " + quoted(*value),
        suggestion(*value, names) + "valid values: " + joinNames(names));
  return std::nullopt;
}

std::optional<std::vector<ListItem>> ConfigReader::readStringList(const ConfigNode& node, const std::string& path,
                                                                  const std::string& emptyHint) {
  std::vector<ListItem> items;
  if (node.type == ConfigNode::Type::String) {
    items.push_back(ListItem{node.text, path, node.pos});
    return items;
  }
  if (node.type != ConfigNode::Type::Array) {
    wrongType(node, path, "an array of strings");
    return std::nullopt;
  }
  if (node.items.empty()) {
    error(node.pos, path, "is empty", emptyHint);
    return std::nullopt;
  }
  for (std::size_t i = 0; i < node.items.size(); ++i) {
    const ConfigNode& element = node.items[i];
    const std::string elementPath = path + "[" + std::to_string(i) + "]";
    if (element.type == ConfigNode::Type::String) {
      items.push_back(ListItem{element.text, elementPath, element.pos});
    } else {
      wrongType(element, elementPath, "a string");
    }
  }
  return items;
}

std::string suggestion(std::string_view word, std::span<const std::string_view> names) {
  return suggestionAmong(word, names);
}

std::string suggestion(std::string_view word, std::span<const std::string> names) {
  return suggestionAmong(word, names);
}

std::string quoted(std::string_view s) {
  if (s.size() <= kMaxQuoted) return "\"" + std::string(s) + "\"";
  // Cut at a character boundary: never inside a UTF-8 sequence (continuation bytes 10xxxxxx).
  std::size_t cut = kMaxQuoted;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return "\"" + std::string(s.substr(0, cut)) + "\"... (" + std::to_string(s.size()) + " bytes)";
}

std::string lineCol(SourcePos pos) { return std::to_string(pos.line) + ":" + std::to_string(pos.col); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool isValidName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::string hostNameProblem(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty()) return "it is empty";
  if (host.size() > kMaxHostName) {
    return "it is too long: " + std::to_string(host.size()) + " characters, at most " + std::to_string(kMaxHostName);
  }
  std::size_t start = 0;
  while (start <= host.size()) {
    auto end = host.find('.', start);
    if (end == std::string_view::npos) end = host.size();
    const std::string_view label = host.substr(start, end - start);
    if (label.empty()) return "it has an empty label (two dots in a row, or a leading dot)";
    if (label.size() > kMaxHostLabel) {
      return "a label is too long: " + std::to_string(label.size()) + " characters between dots, at most " +
             std::to_string(kMaxHostLabel);
    }
    if (label.front() == '-' || label.back() == '-') return "a label starts or ends with '-'";
    for (const char c : label) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '_';
      if (!ok) {
        const auto u = static_cast<unsigned char>(c);
        if (c == ' ') return "it contains a space";
        return u > 0x20 && u < 0x7f ? "it contains '" + std::string(1, c) + "'"
                                    : "it contains the byte " + std::to_string(u);
      }
    }
    start = end + 1;
  }
  return "";
}

bool isValidHostName(std::string_view host) { return hostNameProblem(host).empty(); }

}  // namespace udpx

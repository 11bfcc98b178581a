// Reading a config: the file, its TOML (with toml++, compiled into this file only) turned into a
// ConfigNode tree, then the section loaders (loader.cpp) over that tree; all problems at once.
#include "config/config.h"

// toml++ (compiled into this file, header-only) checks some of its parser's internal
// preconditions with TOML_ASSERT, and malformed input can break one: the mutated configs of
// RandomInput reach parse_key() at a character that starts no key. The parser goes on to report
// "expected bare key starting character or string delimiter" by itself, so the check must not
// abort a debug build (release builds compile it out; the ASan build checks what follows).
#define TOML_ASSERT(expr) static_assert(true)
#include <toml++/toml.h>

#include <cerrno>
#include <cstdio>
#include <exception>
#include <memory>
#include <string_view>
#include <system_error>
#include <utility>

#include "config/config_node.h"
#include "config/reader.h"
#include "config/sections.h"

namespace udpx {
namespace {

SourcePos posOf(const toml::source_region& region) { return SourcePos{region.begin.line, region.begin.column}; }

ConfigNode::Type typeOf(toml::node_type type) noexcept {
  switch (type) {
    case toml::node_type::string: return ConfigNode::Type::String;
    case toml::node_type::integer: return ConfigNode::Type::Integer;
    case toml::node_type::floating_point: return ConfigNode::Type::Float;
    case toml::node_type::boolean: return ConfigNode::Type::Boolean;
    case toml::node_type::date: return ConfigNode::Type::Date;
    case toml::node_type::time: return ConfigNode::Type::Time;
    case toml::node_type::date_time: return ConfigNode::Type::DateTime;
    case toml::node_type::array: return ConfigNode::Type::Array;
    case toml::node_type::table:
    case toml::node_type::none: break;  // (a parsed document has no "none" node)
  }
  return ConfigNode::Type::Table;
}

// A copy of what the loaders read: types, positions, strings, integers, and tables' keys in
// toml++'s order (toml++ limits the nesting, so the recursion is bounded).
ConfigNode convert(const toml::node& node) {
  ConfigNode out;
  out.type = typeOf(node.type());
  out.pos = posOf(node.source());
  if (const auto* s = node.as_string()) {
    out.text = s->get();
  } else if (const auto* i = node.as_integer()) {
    out.integer = i->get();
  } else if (const auto* array = node.as_array()) {
    out.items.reserve(array->size());
    for (const toml::node& element : *array) out.items.push_back(convert(element));
  } else if (const auto* table = node.as_table()) {
    out.entries.reserve(table->size());
    for (auto&& [key, value] : *table) {
      out.entries.push_back(ConfigNode::Entry{std::string(key.str()), posOf(key.source()), convert(value)});
    }
  }
  return out;
}

void addParseError(ConfigReader& r, const toml::parse_error& e) {
  r.error(posOf(e.source()), "", std::string(e.description()), "fix the TOML syntax here; nothing after it was checked");
}

LoadResult load(std::string_view text, const std::string& file) {
  LoadResult result;
  result.text = std::string(text);
  ConfigReader r(file);
  std::optional<ConfigNode> root;
#if TOML_EXCEPTIONS
  try {
    root = convert(toml::parse(text, std::string_view(file)));
  } catch (const toml::parse_error& e) {
    addParseError(r, e);
  }
#else
  toml::parse_result parsed = toml::parse(text, std::string_view(file));
  if (parsed) {
    root = convert(parsed.table());
  } else {
    addParseError(r, parsed.error());
  }
#endif
  if (root) {
    Config config;
    config.file = file;
    config.text_hash = hashConfigText(text);
    loadDocument(r, *root, config);
    if (!r.hasErrors()) result.config = std::move(config);
  }
  r.moveProblemsTo(result);
  return result;
}

}  // namespace

const ConfigNode* ConfigNode::get(std::string_view key) const noexcept {
  for (const Entry& e : entries) {
    if (e.key == key) return &e.value;
  }
  return nullptr;
}

std::string_view typeName(ConfigNode::Type type) noexcept {
  switch (type) {
    case ConfigNode::Type::String: return "string";
    case ConfigNode::Type::Integer: return "integer";
    case ConfigNode::Type::Float: return "floating-point number";
    case ConfigNode::Type::Boolean: return "boolean";
    case ConfigNode::Type::Date: return "date";
    case ConfigNode::Type::Time: return "time";
    case ConfigNode::Type::DateTime: return "date-time";
    case ConfigNode::Type::Array: return "array";
    case ConfigNode::Type::Table: return "table";
  }
  return "nothing";
}

const BackendConfig* ReloadableConfig::findBackend(const std::string& name) const noexcept {
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

std::uint64_t hashConfigText(std::string_view text) noexcept {
  // FNV-1a, 64 bits, kept to the 53 bits a metric's double holds exactly.
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    h ^= static_cast<std::uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return h & ((std::uint64_t{1} << 53) - 1);
}

LoadResult loadConfigString(std::string_view text, const std::string& name) {
  try {
    return load(text, name);
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

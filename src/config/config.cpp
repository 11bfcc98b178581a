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

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <string_view>
#include <utility>

#include "config/config_node.h"
#include "config/reader.h"
#include "config/sections.h"
#include "config/toml_guard.h"

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

// A copy of what the loaders read: types, positions, strings, integers (booleans as 0 and 1), and tables' keys in
// toml++'s order (toml++ limits the nesting, so the recursion is bounded).
ConfigNode convert(const toml::node& node) {
  ConfigNode out;
  out.type = typeOf(node.type());
  out.pos = posOf(node.source());
  if (const auto* s = node.as_string()) {
    out.text = s->get();
  } else if (const auto* i = node.as_integer()) {
    out.integer = i->get();
  } else if (const auto* b = node.as_boolean()) {
    out.integer = b->get() ? 1 : 0;
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

const char* fileKind(mode_t mode) noexcept {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

constexpr const char* kTooLargeHint =
    "a udpx configuration is a few kilobytes: is this the right file? If it is, shorten it (fewer comments, "
    "wildcard listen addresses)";
constexpr const char* kPathHint = "check the path and its permissions";

std::string tooLarge(std::size_t bytes, bool at_least) {
  return "it is " + std::string(at_least ? "over " : "") + std::to_string(at_least ? kMaxConfigBytes : bytes) +
         " bytes, more than the " + std::to_string(kMaxConfigBytes) + " udpx reads";
}

struct ReadProblem {
  std::string what, hint;
};

// The whole file into `text`, or false with what went wrong and how to fix it in `p`. The checks are made on the
// opened descriptor (no race with a rename), before reading: /dev/zero or a FIFO would
// otherwise be read forever. The read is bounded too, for files whose size fstat does not tell
// (/proc) or that grow while read.
bool readConfigText(const std::string& path, std::string& text, ReadProblem& p) {
  // O_NONBLOCK: opening a FIFO would otherwise wait for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    p = {std::strerror(errno), kPathHint};
    return false;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    p = {std::strerror(errno), kPathHint};
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    p = {std::string("it is ") + fileKind(st.st_mode) + ", not a regular file",
         "name the configuration file, e.g. -c /etc/udpx/udpx.toml"};
    return false;
  }
  if (static_cast<std::uintmax_t>(st.st_size) > kMaxConfigBytes) {
    p = {tooLarge(static_cast<std::size_t>(st.st_size), false), kTooLargeHint};
    return false;
  }
  text.resize(kMaxConfigBytes + 1);
  std::size_t have = 0;
  while (have < text.size()) {
    const ssize_t n = ::read(fd, text.data() + have, text.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      p = {std::strerror(errno), kPathHint};
      return false;
    }
    if (n == 0) break;
    have += static_cast<std::size_t>(n);
  }
  if (have > kMaxConfigBytes) {
    p = {tooLarge(have, true), kTooLargeHint};
    return false;
  }
  text.resize(have);
  return true;
}

LoadResult load(std::string_view text, const std::string& file) {
  LoadResult result;
  if (text.size() > kMaxConfigBytes) {
    result.errors.push_back(ConfigError{file, {}, "", "the configuration " + tooLarge(text.size(), false).substr(3),
                                        kTooLargeHint});
    return result;
  }
  result.text = std::string(text);
  ConfigReader r(file);
  // Before toml++ sees a byte: the inputs on which it would reach undefined behaviour; toml++
  // parses parse_text (the comments masked), positions are the same.
  std::string parse_text;
  if (const auto hazard = findTomlHazard(text, &parse_text)) {
    r.error(hazard->pos, "", hazard->message, hazard->hint);
    r.moveProblemsTo(result);
    return result;
  }
  std::optional<ConfigNode> root;
#if TOML_EXCEPTIONS
  try {
    root = convert(toml::parse(parse_text, std::string_view(file)));
  } catch (const toml::parse_error& e) {
    addParseError(r, e);
  }
#else
  toml::parse_result parsed = toml::parse(parse_text, std::string_view(file));
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

std::vector<ListenEndpoint> listenEndpoints(const FrontendConfig& f) {
  std::vector<ListenEndpoint> out;
  if (!protocolOf(f.preset).tcp_only) {
    for (const SockAddr& a : f.listen) out.push_back({a, Transport::Udp});
  }
  if (f.tcp) {
    for (const SockAddr& a : f.listen) out.push_back({a, Transport::Tcp});
  }
  return out;
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
    ReadProblem p;
    if (!readConfigText(path, text, p)) {
      // No file name or position in front: the message names the file, which has no lines.
      result.errors.push_back(ConfigError{"", {}, "", "cannot read " + path + ": " + p.what, p.hint});
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

// Reading typed values out of config nodes, and collecting the problems found on the way: each
// with its FILE:LINE:COL, a hint that says how to fix it, and "did you mean" for a near miss.
// Every section loader (the *_section.cpp files) reads through one ConfigReader.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/enum_names.h"
#include "config/config.h"
#include "config/config_node.h"

namespace udpx {

// A string, or one element of an array of strings, with where it was written.
struct ListItem {
  std::string text;
  std::string path;  // "frontend.f.listen[1]"
  SourcePos pos;
};

class ConfigReader {
 public:
  explicit ConfigReader(std::string file) : file_(std::move(file)) {}

  void error(SourcePos pos, std::string path, std::string message, std::string hint);
  void warning(SourcePos pos, std::string path, std::string message, std::string hint);
  bool hasErrors() const noexcept { return !errors_.empty(); }
  // Hands the problems over, each list in file order (those without a position last).
  void moveProblemsTo(LoadResult& result);

  void wrongType(const ConfigNode& node, const std::string& path, std::string_view expected,
                 std::string hint = "");
  // Reports every key of `table` that is not in `valid`, at the key itself.
  void checkKeys(const ConfigNode& table, const std::string& path, std::span<const std::string_view> valid);
  void missingKey(const ConfigNode& table, const std::string& path, std::string_view key, std::string hint);

  std::optional<std::string> readString(const ConfigNode& node, const std::string& path);
  std::optional<std::int64_t> readInt(const ConfigNode& node, const std::string& path, std::int64_t min,
                                      std::int64_t max);
  // A duration string with units ("250ms", "2s"), 1ms up to a year.
  std::optional<std::chrono::milliseconds> readDuration(const ConfigNode& node, const std::string& path);
  // One of `names`: returns its index. `what` names the kind of value in messages ("balance").
  std::optional<std::size_t> readChoice(const ConfigNode& node, const std::string& path, std::string_view what,
                                        std::span<const std::string_view> names);
  // One of the names of an enum's table (base/enum_names.h).
  template <typename E, std::size_t N>
  std::optional<E> readEnum(const ConfigNode& node, const std::string& path, std::string_view what,
                            const EnumName<E> (&table)[N]) {
    const auto names = enumNames(table);
    const auto i = readChoice(node, path, what, names);
    if (!i) return std::nullopt;
    return table[*i].value;
  }
  // A string or an array of strings; bad elements are reported and skipped.
  // Returns nullopt when the value is not usable at all (wrong type or empty).
  std::optional<std::vector<ListItem>> readStringList(const ConfigNode& node, const std::string& path,
                                                      const std::string& emptyHint);

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
  std::vector<ConfigError> warnings_;
};

// `did you mean "x"? ` when one of `names` is close enough to `word` to be the intended one, else "".
std::string suggestion(std::string_view word, std::span<const std::string_view> names);
std::string suggestion(std::string_view word, std::span<const std::string> names);

// Values are echoed in messages at most this long (bytes); a longer one is cut, with its size.
inline constexpr std::size_t kMaxQuoted = 80;
// "\"value\"", or "\"first 80 bytes\"... (N bytes)" for a longer one.
std::string quoted(std::string_view s);
std::string lineCol(SourcePos pos);  // "12:5"
std::string lower(std::string_view s);
// Names end up in logs and metric labels: letters, digits, '_' and '-' only.
bool isValidName(std::string_view name);
// RFC 1123 host names (plus '_', common in internal zones), optionally fully qualified: at most
// 253 characters, labels of 1..63 letters, digits, '-' (not first or last) and '_'.
inline constexpr std::size_t kMaxHostName = 253;
inline constexpr std::size_t kMaxHostLabel = 63;
bool isValidHostName(std::string_view host);
// What is wrong with `host` as a host name ("is too long: 300 characters, …"), or "" if nothing.
std::string hostNameProblem(std::string_view host);

}  // namespace udpx

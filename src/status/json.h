// Just enough JSON for udpx: quoting strings when writing the status, and a small parser for
// `udpx status`, which reads that document back.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace udpx::json {

// "text" with quotes, backslashes and control characters escaped.
std::string quote(std::string_view s);

class Value {
 public:
  enum class Type : std::uint8_t { Null, Bool, Number, String, Array, Object };

  // NOTE: declared here and defaulted in json.cpp: `object` holds pairs of Value, and clang
  // (with libstdc++) checks whether such a pair is default-constructible while Value is still
  // incomplete when the special members are implicit (the fuzz build, tests/fuzz/, uses clang).
  Value();
  ~Value();
  Value(const Value&);
  Value(Value&&) noexcept;
  Value& operator=(const Value&);
  Value& operator=(Value&&) noexcept;

  Type type = Type::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object;  // in document order

  // Member `key` of an object (a null Value when absent or not an object).
  const Value& operator[](std::string_view key) const noexcept;
  bool isNull() const noexcept { return type == Type::Null; }
  // Conveniences with defaults for absent or mistyped members.
  std::string str(std::string_view fallback = "") const { return type == Type::String ? string : std::string(fallback); }
  double num(double fallback = 0) const noexcept { return type == Type::Number ? number : fallback; }
  bool flag(bool fallback = false) const noexcept { return type == Type::Bool ? boolean : fallback; }
};

// Parses a whole document; nullopt with `error` (what and at which byte) when it is not JSON.
std::optional<Value> parse(std::string_view text, std::string& error);

}  // namespace udpx::json

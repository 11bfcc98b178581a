// A parsed config document as a small tree of values with their positions: what the section
// loaders read. config.cpp builds it from toml++'s tree, so toml++ is compiled in that one file
// only (header-only, for idle memory) and the loaders never include it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace udpx {

struct ConfigNode {
  enum class Type : std::uint8_t { String, Integer, Float, Boolean, Date, Time, DateTime, Array, Table };
  struct Entry;

  Type type = Type::Table;
  SourcePos pos;             // where the value (or the table's header) starts
  std::string text;          // String: the value
  std::int64_t integer = 0;  // Integer: the value; Boolean: 1 for true, 0 for false
  std::vector<ConfigNode> items;  // Array: the elements
  std::vector<Entry> entries;     // Table: the keys, in the order toml++ keeps them (by name)

  bool isTable() const noexcept { return type == Type::Table; }
  bool isEmpty() const noexcept { return type == Type::Table ? entries.empty() : items.empty(); }
  // The value of `key` in a table; nullptr when absent (or when this is not a table).
  const ConfigNode* get(std::string_view key) const noexcept;
};

struct ConfigNode::Entry {
  std::string key;
  SourcePos key_pos;  // where the key is written, for "unknown key" (the value may be far away)
  ConfigNode value;
};

// "string", "integer", "table"…: the type as messages name it ("expected a string, got integer").
std::string_view typeName(ConfigNode::Type type) noexcept;

}  // namespace udpx

// Enum names kept in one table per enum: the table is the only place a name is spelled, and the
// enum's parse and print functions (declared beside each table) are derived from it.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace udpx {

template <typename E>
struct EnumName {
  E value;
  std::string_view name;
};

// The value written `name` (an exact, case-sensitive match, as in the config), or nullopt.
template <typename E, std::size_t N>
constexpr std::optional<E> enumFromName(const EnumName<E> (&table)[N], std::string_view name) noexcept {
  for (const EnumName<E>& e : table) {
    if (e.name == name) return e.value;
  }
  return std::nullopt;
}

// The name of `value`; "?" for a value the table does not list.
template <typename E, std::size_t N>
constexpr std::string_view enumToName(const EnumName<E> (&table)[N], E value) noexcept {
  for (const EnumName<E>& e : table) {
    if (e.value == value) return e.name;
  }
  return "?";
}

// The names alone, in table order: for "valid values: …" lists and "did you mean".
template <typename E, std::size_t N>
constexpr std::array<std::string_view, N> enumNames(const EnumName<E> (&table)[N]) noexcept {
  std::array<std::string_view, N> out{};
  for (std::size_t i = 0; i < N; ++i) out[i] = table[i].name;
  return out;
}

// "a, b, c": names (anything a string_view can be made of) joined for a message.
template <typename Names>
std::string joinNames(const Names& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += std::string_view(n);
  }
  return out;
}

}  // namespace udpx

// Parsing and formatting of the human durations used in config files ("2s", "1m30s").
#include "config/duration.h"

#include <array>
#include <cstdint>
#include <limits>

namespace udpx {
namespace {

struct Unit {
  std::string_view name;
  std::int64_t ms;
};

// Largest first: parsing requires this order ("1m30s", not "30s1m") and formatting picks the
// largest unit that divides exactly.
constexpr std::array<Unit, 4> kUnits{{{"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}}};

bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  if (text.empty()) return std::nullopt;

  std::int64_t total = 0;
  std::size_t nextUnit = 0;  // index into kUnits: each unit once, largest first
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t number = 0;
    const std::size_t digitsStart = i;
    while (i < text.size() && isDigit(text[i])) {
      const std::int64_t digit = text[i] - '0';
      if (number > (kMax - digit) / 10) return std::nullopt;
      number = number * 10 + digit;
      ++i;
    }
    if (i == digitsStart) return std::nullopt;  // a unit with no number, or a sign ("-1s")

    const std::size_t unitStart = i;
    while (i < text.size() && !isDigit(text[i])) ++i;
    const std::string_view unitName = text.substr(unitStart, i - unitStart);
    if (unitName.empty()) return std::nullopt;  // bare number: units are required

    std::size_t u = nextUnit;
    while (u < kUnits.size() && kUnits[u].name != unitName) ++u;
    if (u == kUnits.size()) return std::nullopt;  // unknown, repeated or out-of-order unit
    nextUnit = u + 1;

    if (number > kMax / kUnits[u].ms) return std::nullopt;
    const std::int64_t part = number * kUnits[u].ms;
    if (total > kMax - part) return std::nullopt;
    total += part;
  }
  return std::chrono::milliseconds{total};
}

std::string formatDuration(std::chrono::milliseconds d) {
  const std::int64_t count = d.count();
  if (count == 0) return "0s";
  // Negate in unsigned arithmetic so that the most negative value does not overflow.
  const std::uint64_t magnitude =
      count < 0 ? 0 - static_cast<std::uint64_t>(count) : static_cast<std::uint64_t>(count);
  const std::string sign = count < 0 ? "-" : "";
  for (const Unit& unit : kUnits) {
    const auto ms = static_cast<std::uint64_t>(unit.ms);
    if (magnitude % ms == 0) return sign + std::to_string(magnitude / ms) + std::string(unit.name);
  }
  return sign + std::to_string(magnitude) + "ms";  // unreachable: "ms" divides everything
}

}  // namespace udpx

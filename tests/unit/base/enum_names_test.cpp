// The enum name tables (base/enum_names.h) and the log levels' table built on them (base/log.h).
#include "base/enum_names.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/log.h"

namespace udpx {
namespace {

enum class Colour : std::uint8_t { Red, Green };
constexpr EnumName<Colour> kColourNames[] = {{Colour::Red, "red"}, {Colour::Green, "green"}};

TEST(EnumNames, ParsesAndPrintsThroughTheTable) {
  EXPECT_EQ(enumFromName(kColourNames, "green"), Colour::Green);
  EXPECT_EQ(enumToName(kColourNames, Colour::Red), "red");
  EXPECT_EQ(enumFromName(kColourNames, "blue"), std::nullopt);
  EXPECT_EQ(enumFromName(kColourNames, "Red"), std::nullopt);  // names are matched exactly
  EXPECT_EQ(enumToName(kColourNames, static_cast<Colour>(7)), "?");
}

TEST(EnumNames, ListsTheNamesInTableOrder) {
  const auto names = enumNames(kColourNames);
  EXPECT_EQ(std::vector<std::string_view>(names.begin(), names.end()),
            (std::vector<std::string_view>{"red", "green"}));
  EXPECT_EQ(joinNames(names), "red, green");
  EXPECT_EQ(joinNames(std::vector<std::string>{"a"}), "a");
  EXPECT_EQ(joinNames(std::vector<std::string>{}), "");
}

TEST(LogLevelNames, RoundTripEveryLevel) {
  for (int i = 0; i <= static_cast<int>(LogLevel::Debug); ++i) {
    const auto level = static_cast<LogLevel>(i);
    const std::string_view name = logLevelName(level);
    EXPECT_NE(name, "?") << "level " << i << " has no name";
    EXPECT_EQ(parseLogLevel(name), level) << name;
  }
  // From the quietest to the most verbose: the order messages list them in.
  EXPECT_EQ(joinNames(enumNames(kLogLevelNames)), "error, warn, info, debug");
}

TEST(LogLevelNames, RejectsUnknownNames) {
  for (std::string_view bad : {"verbose", "Info", "INFO", "", " info", "warning", "err"}) {
    EXPECT_EQ(parseLogLevel(bad), std::nullopt) << '"' << bad << '"';
  }
}

}  // namespace
}  // namespace udpx

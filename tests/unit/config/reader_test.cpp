// ConfigReader (src/config/reader.h): typed reads from config nodes built by hand, without TOML,
// as the section loaders see them, and the problem list it hands over.
#include "config/reader.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace udpx {
namespace {

ConfigNode stringAt(std::string text, std::uint32_t line, std::uint32_t col) {
  ConfigNode n;
  n.type = ConfigNode::Type::String;
  n.text = std::move(text);
  n.pos = {line, col};
  return n;
}

std::vector<std::string> formatAll(const std::vector<ConfigError>& list) {
  std::vector<std::string> out;
  for (const ConfigError& e : list) out.push_back(e.format());
  return out;
}

TEST(ConfigReader, ReadsAnEnumByTheNamesOfItsTable) {
  ConfigReader r("t.toml");
  EXPECT_EQ(r.readEnum(stringAt("first", 3, 11), "backend.b.balance", "balance", kBalanceNames), Balance::First);
  EXPECT_EQ(r.readEnum(stringAt("frist", 4, 11), "backend.b.balance", "balance", kBalanceNames), std::nullopt);
  LoadResult out;
  r.moveProblemsTo(out);
  EXPECT_EQ(formatAll(out.errors),
            (std::vector<std::string>{"t.toml:4:11: backend.b.balance: unknown balance \"frist\" (did you mean "
                                      "\"first\"? valid values: round-robin, first, hash)"}));
}

TEST(ConfigReader, HandsOverProblemsInFileOrderWithoutPositionLast) {
  ConfigReader r("t.toml");
  r.error({}, "", "about the whole file", "");
  r.error({9, 1}, "b", "later", "");
  r.error({2, 5}, "a", "earlier", "");
  r.warning({7, 1}, "w", "a warning", "");
  EXPECT_TRUE(r.hasErrors());
  LoadResult out;
  r.moveProblemsTo(out);
  EXPECT_EQ(formatAll(out.errors), (std::vector<std::string>{"t.toml:2:5: a: earlier", "t.toml:9:1: b: later",
                                                             "t.toml: about the whole file"}));
  EXPECT_EQ(formatAll(out.warnings), (std::vector<std::string>{"t.toml:7:1: w: a warning"}));
}

TEST(ConfigReader, ReportsUnknownKeysAtTheKeyNotTheValue) {
  ConfigNode table;
  table.entries.push_back(ConfigNode::Entry{"balanse", {5, 1}, stringAt("first", 5, 11)});
  table.entries.push_back(ConfigNode::Entry{"servers", {6, 1}, stringAt("127.0.0.1:1", 6, 11)});
  ConfigReader r("t.toml");
  constexpr std::string_view kValid[] = {"servers", "balance"};
  r.checkKeys(table, "backend.b", kValid);
  LoadResult out;
  r.moveProblemsTo(out);
  EXPECT_EQ(formatAll(out.errors),
            (std::vector<std::string>{"t.toml:5:1: backend.b.balanse: unknown key \"balanse\" (did you mean "
                                      "\"balance\"? valid keys: servers, balance)"}));
  EXPECT_EQ(table.get("servers")->text, "127.0.0.1:1");
  EXPECT_EQ(table.get("balance"), nullptr);
}

TEST(ConfigReader, ReadsAStringOrAListOfStringsSkippingBadElements) {
  ConfigNode list;
  list.type = ConfigNode::Type::Array;
  list.pos = {2, 10};
  list.items.push_back(stringAt("a", 2, 11));
  ConfigNode number;
  number.type = ConfigNode::Type::Integer;
  number.pos = {2, 16};
  list.items.push_back(number);
  list.items.push_back(stringAt("c", 2, 20));
  ConfigReader r("t.toml");
  const auto items = r.readStringList(list, "x.listen", "hint");
  ASSERT_TRUE(items.has_value());
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[1].text, "c");
  EXPECT_EQ((*items)[1].path, "x.listen[2]");
  EXPECT_EQ((*items)[1].pos.col, 20u);
  const auto one = r.readStringList(stringAt("only", 3, 9), "x.allow", "hint");
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->at(0).path, "x.allow");
  LoadResult out;
  r.moveProblemsTo(out);
  EXPECT_EQ(formatAll(out.errors), (std::vector<std::string>{"t.toml:2:16: x.listen[1]: expected a string, got integer"}));
}

TEST(ConfigReader, SuggestsOnlyANameCloseEnough) {
  constexpr std::string_view kNames[] = {"listen", "preset", "backend"};
  EXPECT_EQ(suggestion("lsiten", kNames), "did you mean \"listen\"? ");  // a swap is one edit
  EXPECT_EQ(suggestion("BACKEND", kNames), "did you mean \"backend\"? ");
  EXPECT_EQ(suggestion("colour", kNames), "");
  const std::vector<std::string> defined = {"ntp_pool", "dns"};
  EXPECT_EQ(suggestion("ntp_poll", defined), "did you mean \"ntp_pool\"? ");
}

}  // namespace
}  // namespace udpx

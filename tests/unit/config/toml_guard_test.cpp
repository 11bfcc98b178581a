// findTomlHazard (src/config/toml_guard.cpp): the inputs on which toml++ 3.3 reaches undefined
// behaviour are refused with a position; non-ASCII text where TOML allows it passes.
#include "config/toml_guard.h"

#include <gtest/gtest.h>

#include <string>

namespace udpx {
namespace {

// U+4E2D and U+2014 are outside toml++'s broken ranges; U+00E9, U+032A, U+00A7, U+0436 in them.
TEST(TomlGuard, RefusesTheCodePointsTomlppCannotTestAnywhere) {
  // tomlplusplus issue #295: two bytes, U+032A, where a key may start.
  const auto h = findTomlHazard("\xcc\xaa");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->pos.line, 1u);
  EXPECT_EQ(h->pos.col, 1u);
  EXPECT_NE(h->message.find("U+032A"), std::string::npos) << h->message;
  EXPECT_NE(h->hint.find("\\u032A"), std::string::npos) << h->hint;
  // The long config fuzz run: toml++ looks ahead into what only looks like a string.
  const auto inside = findTomlHazard("t = 5       -   \"e\xd0\xb6\"\n");
  ASSERT_TRUE(inside);
  EXPECT_EQ(inside->pos.col, 19u);
  EXPECT_TRUE(findTomlHazard("a = \"caf\xc3\xa9\"\n"));
  EXPECT_FALSE(findTomlHazard("# \xe2\x80\x94 \xe4\xb8\xad\na = \"\xe4\xb8\xad\"\n"));
}

TEST(TomlGuard, RefusesNonAsciiOutsideStringsAndComments) {
  const auto h = findTomlHazard("\xe4\xb8\xad = 1");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->pos.col, 1u);
  EXPECT_NE(h->message.find("outside a string or comment"), std::string::npos);
  const auto later = findTomlHazard("[global]\nlog_level = \"info\" \xe4\xb8\xad\n");
  ASSERT_TRUE(later);
  EXPECT_EQ(later->pos.line, 2u);
  EXPECT_EQ(later->pos.col, 20u);
}

TEST(TomlGuard, RefusesNonAsciiRightAfterALineEndingBackslash) {
  // tomlplusplus issue #190 (there U+00A7): first on the line after a line-ending backslash.
  const auto h = findTomlHazard("s = \"\"\"\\\n\xe4\xb8\xad\"\"\"\n");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->pos.line, 2u);
  EXPECT_EQ(h->pos.col, 1u);
  EXPECT_NE(h->message.find("right after a backslash"), std::string::npos);
  EXPECT_TRUE(findTomlHazard("s = \"\"\"\\   \n\n   \xe4\xb8\xad\"\"\"\n"));
  EXPECT_TRUE(findTomlHazard("s = \"\"\"\\\xe4\xb8\xad\"\"\"\n"));
}

TEST(TomlGuard, PassesNonAsciiWhereTomlAllowsIt) {
  for (const std::string text : {"a = \"\xe4\xb8\xad\"\n", "# \xe4\xb8\xad comment\na = 1\n", "b = '\xe4\xb8\xad'\n",
                                 "\"k\xe4\xb8\xady\" = 1\n", "c = \"\"\"\n\xe4\xb8\xad\"\"\"\n", "d = '''\xe4\xb8\xad'''''\n",
                                 "e = \"\"\"\\\n  x \xe4\xb8\xad\"\"\"\n", "f = \"\\\"\xe4\xb8\xad\"\n",
                                 "g = \"\"\"a\"\"\"\"\nh = \"\xe4\xb8\xad\"\n", "i = \"\"\"\\n\xe4\xb8\xad\"\"\"\n",
                                 "j = \"\\\\\" # \xe4\xb8\xad\n"}) {
    EXPECT_FALSE(findTomlHazard(text)) << text;
  }
}

// Comments are masked before toml++ sees them, so an operator's "# Zürich office" is fine, in
// every script, while the same letters in a string are still refused.
TEST(TomlGuard, CommentsMayHoldAnyCharacter) {
  const std::string text =
      "# Z\xc3\xbcrich office, caf\xc3\xa9, \xce\xa9, \xd0\x96, \xe4\xb8\xad\n"
      "a = 1 # \xc2\xa7 \xcc\xaa\n"
      "b = \"x#\" # \xd0\xb6\n";
  std::string parse_text;
  EXPECT_FALSE(findTomlHazard(text, &parse_text));
  EXPECT_EQ(parse_text.size(), text.size());
  EXPECT_EQ(parse_text.find('\x80'), std::string::npos);
  EXPECT_EQ(parse_text.substr(0, 10), "# Z__rich ");
  EXPECT_NE(parse_text.find("b = \"x#\" # __\n"), std::string::npos) << parse_text;
  // Not in strings: there toml++ may still test them.
  EXPECT_TRUE(findTomlHazard("# \xd0\x96\nname = \"\xd0\x96\"\n"));
  // Invalid UTF-8 in a comment is left for toml++ to report.
  EXPECT_FALSE(findTomlHazard("# \x80\n", &parse_text));
  EXPECT_EQ(parse_text, "# \x80\n");
  EXPECT_FALSE(loadConfigString("# \x80\n", "t.toml").errors.empty());
}

TEST(TomlGuard, TheLoaderReadsACommentedConfig) {
  const LoadResult r = loadConfigString(
      "# Z\xc3\xbcrich: NTP f\xc3\xbcr das B\xc3\xbcro \xe2\x80\x94 \xd0\x96\n"
      "[frontend.ntp] # \xc2\xa7 1\nlisten = [\"127.0.0.1:123\"]\npreset = \"ntp\"\nbackend = \"up\"\n"
      "[backend.up]\nservers = [\"127.0.0.1:1123\"]\n",
      "t.toml");
  EXPECT_TRUE(r.config) << (r.errors.empty() ? std::string() : r.errors[0].format());
  const LoadResult bad = loadConfigString("# \xc3\xa9\n[global]\nlog_level = 5\n", "t.toml");
  ASSERT_FALSE(bad.errors.empty());
  EXPECT_EQ(bad.errors[0].format().rfind("t.toml:3:", 0), 0u) << bad.errors[0].format();
}

TEST(TomlGuard, TheLoaderReportsItWithFileLineAndColumn) {
  const LoadResult r = loadConfigString("s = \"\"\"\\\n\xe4\xb8\xad\"\"\"\n", "t.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_FALSE(r.config);
  EXPECT_EQ(r.errors[0].format().rfind("t.toml:2:1: a non-ASCII character right after a backslash", 0), 0u)
      << r.errors[0].format();
}

}  // namespace
}  // namespace udpx

// findTomlHazard (src/config/toml_guard.cpp): the inputs on which toml++ 3.3 reaches undefined
// behaviour are refused with a position; non-ASCII text where TOML allows it passes.
#include "config/toml_guard.h"

#include <gtest/gtest.h>

#include <string>

namespace udpx {
namespace {

TEST(TomlGuard, RefusesNonAsciiOutsideStringsAndComments) {
  // tomlplusplus issue #295: two bytes, U+032A, where a key may start.
  const auto h = findTomlHazard("\xcc\xaa");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->pos.line, 1u);
  EXPECT_EQ(h->pos.col, 1u);
  EXPECT_NE(h->message.find("outside a string or comment"), std::string::npos);
  const auto later = findTomlHazard("[global]\nlog_level = \"info\" \xc2\xa7\n");
  ASSERT_TRUE(later);
  EXPECT_EQ(later->pos.line, 2u);
  EXPECT_EQ(later->pos.col, 20u);
}

TEST(TomlGuard, RefusesNonAsciiRightAfterALineEndingBackslash) {
  // tomlplusplus issue #190: U+00A7 first on the line after a line-ending backslash.
  const auto h = findTomlHazard("s = \"\"\"\\\n\xc2\xa7\"\"\"\n");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->pos.line, 2u);
  EXPECT_EQ(h->pos.col, 1u);
  EXPECT_TRUE(findTomlHazard("s = \"\"\"\\   \n\n   \xc2\xa7\"\"\"\n"));
  EXPECT_TRUE(findTomlHazard("s = \"\"\"\\\xc2\xa7\"\"\"\n"));
}

TEST(TomlGuard, PassesNonAsciiWhereTomlAllowsIt) {
  for (const std::string text : {"a = \"\xc3\xa9\"\n", "# \xc3\xa9 comment\na = 1\n", "b = '\xc3\xa9'\n",
                                 "\"k\xc3\xa9y\" = 1\n", "c = \"\"\"\n\xc3\xa9\"\"\"\n", "d = '''\xc3\xa9'''''\n",
                                 "e = \"\"\"\\\n  x \xc3\xa9\"\"\"\n", "f = \"\\\"\xc3\xa9\"\n",
                                 "g = \"\"\"a\"\"\"\"\nh = \"\xc3\xa9\"\n", "i = \"\"\"\\n\xc3\xa9\"\"\"\n",
                                 "j = \"\\\\\" # \xc3\xa9\n"}) {
    EXPECT_FALSE(findTomlHazard(text)) << text;
  }
}

TEST(TomlGuard, TheLoaderReportsItWithFileLineAndColumn) {
  const LoadResult r = loadConfigString("s = \"\"\"\\\n\xc2\xa7\"\"\"\n", "t.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_FALSE(r.config);
  EXPECT_EQ(r.errors[0].format().rfind("t.toml:2:1: a non-ASCII character right after a backslash", 0), 0u)
      << r.errors[0].format();
}

}  // namespace
}  // namespace udpx

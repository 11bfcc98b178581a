// json: quoting, and parsing back what the status writes (objects in order, escapes, numbers).
#include "status/json.h"

#include <gtest/gtest.h>

namespace udpx::json {
namespace {

TEST(Json, QuoteEscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
}

TEST(Json, ParsesNestedDocumentsInOrder) {
  std::string error;
  const auto v = parse(R"( {"b": [1, 2.5, -3e2], "a": {"t": true, "f": false, "n": null, "s": "x\"\u00e9"}} )", error);
  ASSERT_TRUE(v) << error;
  ASSERT_EQ(v->object.size(), 2u);
  EXPECT_EQ(v->object[0].first, "b");
  EXPECT_EQ((*v)["b"].array.size(), 3u);
  EXPECT_EQ((*v)["b"].array[2].num(), -300);
  EXPECT_TRUE((*v)["a"]["t"].flag());
  EXPECT_FALSE((*v)["a"]["f"].flag(true));
  EXPECT_TRUE((*v)["a"]["n"].isNull());
  EXPECT_EQ((*v)["a"]["s"].str(), "x\"\xc3\xa9");
  EXPECT_TRUE((*v)["missing"]["deeper"].isNull());
  EXPECT_EQ(parse(quote("round\ttrip"), error)->str(), "round\ttrip");
}

TEST(Json, RejectsBrokenDocumentsSayingWhere) {
  std::string error;
  EXPECT_FALSE(parse("{\"a\": }", error));
  EXPECT_NE(error.find("at byte 6"), std::string::npos) << error;
  EXPECT_FALSE(parse("[1, 2", error));
  EXPECT_FALSE(parse("{} x", error));
  EXPECT_FALSE(parse(std::string(100, '['), error));
}

}  // namespace
}  // namespace udpx::json

#include "mcp/json_parse.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar::mcp {
namespace {

TEST(JsonParse, ParsesOrdinaryDocuments) {
  auto v = parse_json(R"({"a":[1,2,{"b":"[[[["}]})");
  ASSERT_TRUE(v);
  EXPECT_EQ((*v)["a"][2]["b"], "[[[[");
}

TEST(JsonParse, DeepNestingIsRefusedWithoutRecursing) {
  std::string deep(1'000'000, '[');
  EXPECT_FALSE(parse_json(deep));
  std::string ok = std::string(100, '[') + std::string(100, ']');
  EXPECT_TRUE(parse_json(ok));
  std::string over = std::string(129, '{');
  EXPECT_FALSE(json_depth_within(over));
}

TEST(JsonParse, BracketsInsideStringsDoNotCount) {
  std::string s = "\"" + std::string(1000, '[') + "\\\"" + "\"";
  EXPECT_TRUE(json_depth_within(s, 2));
  EXPECT_TRUE(parse_json(s));
}

TEST(JsonParse, MalformedAndInvalidUtf8AreRefused) {
  EXPECT_FALSE(parse_json("{"));
  EXPECT_FALSE(parse_json("{\"a\":1} trailing"));
  EXPECT_FALSE(parse_json("\"\xC3\x28\""));
  EXPECT_FALSE(parse_json(""));
}

}  // namespace
}  // namespace mcp_sidecar::mcp

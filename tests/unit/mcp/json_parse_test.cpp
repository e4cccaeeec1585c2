#include "mcp/json_parse.hpp"

#include "core/json_write.hpp"
#include "support/json_text.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace mcp_sidecar::mcp {
namespace {

using nlohmann::json;
using namespace std::string_literals;  // "..."s keeps NUL bytes

// The value with the type of every node spelled out: nlohmann's operator== finds 1u, 1 and 1.0
// equal, and 0.0 equal to -0.0.
std::string typed(const json& v) {
  std::string out = std::to_string(static_cast<int>(v.type())) + "(";
  if (v.is_object()) {
    for (const auto& [key, item] : v.items()) out += json(key).dump() + ":" + typed(item) + ",";
  } else if (v.is_array()) {
    for (const auto& item : v) out += typed(item) + ",";
  } else {
    out += v.dump();
  }
  return out + ")";
}

// parse_tool_response accepts what parse_json accepts and, once what it kept as text is
// parsed, yields the same value. `text` is tried where a tool's output goes in a message.
void expect_tool_response_as_parse_json(const std::string& text) {
  for (const std::string& message :
       {text, R"({"jsonrpc":"2.0","id":1,"result":{"content":)" + text + R"(,"isError":false}})",
        R"({"result":{"structuredContent":)" + text + "}}"}) {
    SCOPED_TRACE(testing::PrintToString(message));
    auto kept = parse_tool_response(message);
    auto built = parse_json(message);
    ASSERT_EQ(kept.has_value(), built.has_value());
    if (kept) EXPECT_EQ(typed(test_support::expand_json_text(*kept)), typed(*built));
  }
}

// parse_json replaced nlohmann's parser behind the depth rule: it must still agree with it.
void expect_as_nlohmann(const std::string& text, bool accepted) {
  SCOPED_TRACE(testing::PrintToString(text));
  expect_tool_response_as_parse_json(text);
  auto mine = parse_json(text);
  auto theirs = json_depth_within(text) ? json::parse(text, nullptr, false) : json(json::value_t::discarded);
  EXPECT_EQ(mine.has_value(), accepted);
  EXPECT_EQ(!theirs.is_discarded(), accepted);
  if (mine && !theirs.is_discarded()) {
    EXPECT_EQ(typed(*mine), typed(theirs));
  }
}

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

TEST(JsonParse, AcceptsWhatNlohmannAcceptsWithTheSameValuesAndTypes) {
  const std::vector<std::string> accepted = {
      // grammar and whitespace (space, tab, LF, CR only), a byte order mark at the very start
      "{}",
      "[]",
      "null",
      "true",
      "false",
      "\"\"",
      " \t\r\n[ 1 , { \"a\" : [ ] } ]\n ",
      "\xEF\xBB\xBF{}",
      R"({"a":{"b":[{"c":null}]},"d":"e"})",
      // nlohmann stops at a NUL byte after the value, whatever follows it
      "{}\0"s,
      "1 \0 garbage"s,
      "[]\0]]]"s,
      // escapes, and surrogate pairs combined into one code point
      R"("\" \\ \/ \b \f \n \r \t")",
      R"("\u0000\u001f\u007F\u00e9\u20AC\uFFFF")",
      R"("\ud83d\ude00 \uD800\uDC00 \uDBFF\uDFFF")",
      // well-formed UTF-8 at each boundary of RFC 3629's table, raw and inside runs of ASCII
      "\"a\xC2\x80"
      "b\xDF\xBF\"",
      "\"\xE0\xA0\x80\xEC\xBF\xBF\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF\"",
      "\"\xF0\x90\x80\x80\xF3\xBF\xBF\xBF\xF4\x8F\xBF\xBF\"",
      "\"\x7F\"",
      // number typing: unsigned when it fits, signed when negative, double past 64 bits or with . or e
      "0",
      "-0",
      "-0.0",
      "0.0",
      "1",
      "18446744073709551615",
      "18446744073709551616",
      "-9223372036854775808",
      "-9223372036854775809",
      "123456789012345678901234567890",
      "1.5",
      "-1.5e-3",
      "1E5",
      "1e+5",
      "2.5E-0",
      "1.7976931348623157e308",
      "4.9406564584124654e-324",
      "2e-324",
      "-1e-400",
      "1e-400",
      "0e400",
      "0.000000000000000000000000000000000000000000000000000000000000001e-300",
      "[1,-1,1.0,18446744073709551616,-0]",
      // a repeated key keeps its last value
      R"({"a":1,"a":[2],"b":3,"a":"last"})",
      R"({"a":{"x":1},"a":{"y":2}})",
      // nesting up to the limit
      std::string(128, '[') + std::string(128, ']'),
      std::string(127, '[') + "{}" + std::string(127, ']'),
  };
  for (const auto& text : accepted) expect_as_nlohmann(text, true);
}

TEST(JsonParse, RefusesWhatNlohmannRefuses) {
  const std::vector<std::string> refused = {
      // grammar: empty, trailing commas and text, comments, bad literals, whitespace nlohmann does not skip
      "",
      " ",
      "\0"s,
      "\0{}"s,
      "[1,]",
      "{\"a\":1,}",
      "{,}",
      "[,1]",
      "{\"a\"}",
      "{\"a\" 1}",
      "{1:2}",
      "{'a':1}",
      "[1 2]",
      "[1",
      "{\"a\":1",
      "[]]",
      "{} {}",
      "{}x",
      "// c\n{}",
      "/* c */ {}",
      "{} /**/",
      "tru",
      "truex",
      "nul",
      "False",
      "NaN",
      "Infinity",
      "\f{}",
      "\v{}",
      "\xC2\xA0{}",
      "\xEF\xBB{}",
      "\xEF\xBB\xBF\xEF\xBB\xBF{}",
      "\xEF\xBB\xBF",
      // numbers
      "01",
      "-01",
      "+1",
      "-",
      ".5",
      "1.",
      "1.e5",
      "1e",
      "1e+",
      "-e5",
      "0x10",
      "1_000",
      "- 1",
      "1e400",
      "-1e400",
      "1.7976931348623159e308",
      "123456789e999999999999",
      // strings: unterminated, raw control characters, unknown escapes, short \u
      "\"abc",
      "\"\\\"",
      "\"a\nb\"",
      "\"\t\"",
      "\"\0\""s,
      "\"\x1F\"",
      R"("\a")",
      R"("\x41")",
      R"("\U0041")",
      R"("\u12")",
      R"("\u12G4")",
      R"("\u")",
      "\"\\",
      // surrogates: lone high, lone low, high followed by something else, reversed pair
      R"("\ud800")",
      R"("\ud800x")",
      R"("\ud800\n")",
      R"("\ud800\u0041")",
      R"("\ud800\ud800")",
      R"("\udc00")",
      R"("\udfff\ud800")",
      R"("\ud800\u")",
      R"("\uDBFF\uE000")",
      // ill-formed UTF-8: stray continuation bytes, overlong forms, encoded surrogates, past
      // U+10FFFF, bytes that never occur, sequences cut short by the quote or the end
      "\"\x80\"",
      "\"\xBF\"",
      "\"\xC0\xAF\"",
      "\"\xC1\xBF\"",
      "\"\xE0\x80\xAF\"",
      "\"\xE0\x9F\xBF\"",
      "\"\xF0\x80\x80\xAF\"",
      "\"\xF0\x8F\xBF\xBF\"",
      "\"\xED\xA0\x80\"",
      "\"\xED\xBF\xBF\"",
      "\"\xF4\x90\x80\x80\"",
      "\"\xF5\x80\x80\x80\"",
      "\"\xFF\"",
      "\"\xFE\"",
      "\"\xC3\x28\"",
      "\"\xC3\"",
      "\"\xE2\x82\"",
      "\"\xF0\x9F\x98\"",
      "\"\xE2\x82",
      "\"\xF0\x9F",
      "\xC3\xA9",
      // nesting one past the limit, also after a NUL that nlohmann would stop at
      std::string(129, '[') + std::string(129, ']'),
      std::string(128, '[') + "{}" + std::string(128, ']'),
      "{}\0"s + std::string(129, '['),
  };
  for (const auto& text : refused) expect_as_nlohmann(text, false);
}

TEST(JsonParse, TypesNumbersAsNlohmannDoes) {
  EXPECT_EQ(parse_json("18446744073709551615")->type(), json::value_t::number_unsigned);
  EXPECT_EQ(parse_json("18446744073709551616")->type(), json::value_t::number_float);
  EXPECT_EQ(parse_json("-9223372036854775808")->get<std::int64_t>(), INT64_MIN);
  EXPECT_EQ(parse_json("-9223372036854775809")->type(), json::value_t::number_float);
  EXPECT_EQ(parse_json("-0")->type(), json::value_t::number_integer);
  EXPECT_TRUE(std::signbit(parse_json("-1e-400")->get<double>()));
  EXPECT_EQ(parse_json("2.5e3")->get<double>(), 2500.0);
}

TEST(JsonParse, DecodesEscapesAndKeepsTheLastDuplicate) {
  EXPECT_EQ(*parse_json(R"("\ud83d\ude00\u00e9\n")"), "\xF0\x9F\x98\x80\xC3\xA9\n");
  EXPECT_EQ(parse_json(R"("a\u0000b")")->get<std::string>(), "a\0b"s);
  EXPECT_EQ(*parse_json(R"({"k":1,"k":{"x":[]}})"), json::parse(R"({"k":{"x":[]}})"));
}

// Every byte value, at every place of a string that spans two 16-byte blocks and a tail (the
// plain-byte scan tests 16 at a time), and with the string ending at every place: accepted and
// decoded exactly as nlohmann does, also when the string is skipped as part of a tool's output.
TEST(JsonParse, EveryByteAtEveryPlaceInAString) {
  for (int byte = 0; byte < 0x100; ++byte) {
    for (std::size_t at = 0; at < 35; ++at) {
      std::string s(35, 'a');
      s[at] = static_cast<char>(byte);
      for (const std::string& text : {'"' + s + '"', '"' + s.substr(0, at + 1) + '"', '"' + s}) {
        const auto expected = json::parse(text, nullptr, false);
        const auto parsed = parse_json(text);
        ASSERT_EQ(parsed.has_value(), !expected.is_discarded()) << "byte " << byte << " at " << at;
        if (parsed) ASSERT_EQ(*parsed, expected) << "byte " << byte << " at " << at;
        const auto kept = parse_tool_response(R"({"result":{"content":[)" + text + "]}}");
        ASSERT_EQ(kept.has_value(), !expected.is_discarded()) << "byte " << byte << " at " << at;
      }
    }
  }
}

TEST(JsonParse, NeverRecursesPastTheLimit) {
  EXPECT_TRUE(parse_json("[[[]]]", 3));
  EXPECT_FALSE(parse_json("[[[]]]", 2));
  EXPECT_TRUE(parse_json("1", 0));
  EXPECT_FALSE(parse_json("{}", 0));
  EXPECT_FALSE(parse_json(std::string(1'000'000, '{')));
}

TEST(JsonParse, ToolResponseKeepsWhatTheToolReturnedAsText) {
  const std::string content = R"([ {"type":"text", "text":"caf\u00e9 \/", "z":1,"a":2.50} ])";
  const std::string structured = R"({"z":1,"a":[1.0e2,-0]})";
  const std::string text = R"({"jsonrpc":"2.0","id":7,"result":{"structuredContent":)" + structured + R"(,"content":)" +
                           content + R"(,"isError":true,"_meta":{"content":[1]}}})";
  auto kept = parse_tool_response(text);
  ASSERT_TRUE(kept);
  const json& result = (*kept)["result"];
  ASSERT_TRUE(is_json_text(result["content"]));
  EXPECT_EQ(json_text(result["content"]), content);  // the bytes as sent: spaces, escapes, order, 2.50
  ASSERT_TRUE(is_json_text(result["structuredContent"]));
  EXPECT_EQ(json_text(result["structuredContent"]), structured);
  EXPECT_EQ(result["isError"], true);                       // what the sidecar reads is built
  EXPECT_EQ(result["_meta"]["content"], json::array({1}));  // only the result's own members are kept
  EXPECT_EQ((*kept)["id"], 7);
  // Written out, the kept text goes as it came, inside the envelope as dump() writes it.
  EXPECT_EQ(dump_json(*kept), R"({"id":7,"jsonrpc":"2.0","result":{"_meta":{"content":[1]},"content":)" + content +
                                  R"(,"isError":true,"structuredContent":)" + structured + "}}");

  // Scalars where a tool's output goes, requests, and batches are parsed as parse_json parses them.
  for (const std::string message :
       {R"({"id":1,"result":{"content":"text","structuredContent":null}})",
        R"({"id":1,"method":"tools/call","params":{"content":[1]}})", R"([{"id":1,"result":{"content":[1]}}])",
        R"({"id":1,"result":[{"content":[1]}]})"}) {
    auto parsed = parse_tool_response(message);
    ASSERT_TRUE(parsed) << message;
    EXPECT_EQ(typed(*parsed), typed(*parse_json(message))) << message;
  }
  // A repeated member: the last one wins, as in parse_json.
  auto repeated = parse_tool_response(R"({"result":{"content":[1],"content":{"b":2}}})");
  ASSERT_TRUE(repeated);
  EXPECT_EQ(json_text((*repeated)["result"]["content"]), R"({"b":2})");
}

TEST(JsonParse, ToolResponseRefusesWhatParseJsonRefuses) {
  // Malformed, invalid UTF-8, and too deep inside what would be kept as text.
  for (const std::string& inner : {"[1,]"s, "{\"a\"}"s, "[\"\xC3\x28\"]"s, "[\"\\ud800\"]"s, "[01]"s, "[1e999]"s,
                                   "[tru]"s, "[\"\x01\"]"s, std::string(127, '[') + std::string(127, ']')}) {
    const std::string message = R"({"result":{"content":)" + inner + "}}";
    EXPECT_FALSE(parse_json(message)) << message;
    EXPECT_FALSE(parse_tool_response(message)) << message;
  }
  const std::string deepest = R"({"result":{"content":)" + std::string(126, '[') + std::string(126, ']') + "}}";
  EXPECT_TRUE(parse_json(deepest));
  EXPECT_TRUE(parse_tool_response(deepest));
}

// dispose() empties a value from the leaves up; what is too deep for it is left, whole, to
// nlohmann's destructor, which still frees it (ASan checks that nothing leaks).
TEST(JsonDispose, EmptiesValuesOfEveryShapeAndDepth) {
  auto message = parse_json(R"({"id":1,"result":{"content":[{"type":"text","text":"ok"}],"isError":false}})");
  ASSERT_TRUE(message);
  dispose(*message);
  EXPECT_EQ(*message, nlohmann::json::object());

  nlohmann::json array = nlohmann::json::array({1, "two", nlohmann::json::array({3}), {{"four", 4}}});
  dispose(array);
  EXPECT_EQ(array, nlohmann::json::array());

  nlohmann::json scalar = "text";
  dispose(scalar);
  EXPECT_EQ(scalar, "text");

  nlohmann::json deep = nlohmann::json::array();
  nlohmann::json* at = &deep;
  for (int i = 0; i < 10 * kMaxJsonDepth; ++i) at = &at->emplace_back(nlohmann::json::array());
  *at = "bottom";
  { const Disposing disposing(deep); }
  EXPECT_EQ(deep, nlohmann::json::array());
}

TEST(JsonParse, TellsRepeatedKeysAtAnyDepth) {
  bool duplicates = true;
  auto m = parse_json(R"({"jsonrpc":"2.0","id":1,"method":"x","params":{"name":"a","args":{"b":1}}})", duplicates);
  ASSERT_TRUE(m);
  EXPECT_FALSE(duplicates);
  // Equal keys in different objects are no repetition.
  EXPECT_TRUE(parse_json(R"([{"id":1},{"id":2,"p":{"id":3}}])", duplicates));
  EXPECT_FALSE(duplicates);
  for (const char* text :
       {R"({"method":"a","method":"b"})", R"({"params":{"name":"a","name":"b"}})", R"({"p":{"_meta":{"k":1,"k":1}}})",
        R"([{},{"x":[{"y":1,"y":2}]}])", R"({"params":{"name":"a","name":"b"}})"}) {
    duplicates = false;
    auto parsed = parse_json(text, duplicates);
    ASSERT_TRUE(parsed) << text;
    EXPECT_TRUE(duplicates) << text;
  }
  // The last value counts, as without the report.
  EXPECT_EQ((*parse_json(R"({"name":"a","name":"b"})", duplicates))["name"], "b");
  EXPECT_FALSE(parse_json(R"({"a":1,)", duplicates));
  EXPECT_FALSE(parse_json(std::string(200, '[') + std::string(200, ']'), duplicates));
  EXPECT_FALSE(parse_json("{\"a\":\"\xff\"}", duplicates));
}

}  // namespace
}  // namespace mcp_sidecar::mcp

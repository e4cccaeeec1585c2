#include "mcp/json_document.hpp"

#include "mcp/jsonrpc.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mcp_sidecar::mcp {
namespace {

using nlohmann::json;
using namespace std::string_literals;  // "..."s keeps NUL bytes

JsonDocument read(std::string text, bool* duplicates = nullptr) {
  auto doc = JsonDocument::parse(std::move(text), duplicates);
  EXPECT_TRUE(doc.has_value());
  return doc ? std::move(*doc) : *JsonDocument::parse("null");
}

TEST(JsonDocument, ReadsMembersWhereTheyLie) {
  const auto doc = read(R"( {"jsonrpc":"2.0","id":7,"method":"tools/call",
      "params":{"name":"lookup","arguments":{"legal_name":"ACME","n":[1,2.5,-3]}}} )");
  const JsonView m = doc.root();
  EXPECT_TRUE(m.is_object());
  EXPECT_EQ(m.size(), 4u);
  EXPECT_EQ(m["method"].str(), "tools/call");
  EXPECT_TRUE(m["id"].is_number_integer());
  EXPECT_EQ(m["id"].text(), "7");
  EXPECT_EQ(m["params"]["name"].str(), "lookup");
  const JsonView n = m["params"]["arguments"]["n"];
  EXPECT_TRUE(n.is_array());
  EXPECT_EQ(n.text(), "[1,2.5,-3]");
  std::vector<json::value_t> types;
  n.for_each_element([&](JsonView e) { types.push_back(e.type()); });
  EXPECT_EQ(types,
            (std::vector{json::value_t::number_unsigned, json::value_t::number_float, json::value_t::number_integer}));
  EXPECT_EQ(m["params"]["arguments"].value(), json::parse(R"({"legal_name":"ACME","n":[1,2.5,-3]})"));
  EXPECT_EQ(m.value(), *parse_json(doc.text()));
  EXPECT_EQ(classify(m), MessageKind::request);
}

TEST(JsonDocument, AnAbsentMemberReadsAsNothing) {
  const auto doc = read(R"({"a":null,"s":"x"})");
  const JsonView missing = doc.root()["b"]["c"];
  EXPECT_TRUE(missing.absent());
  EXPECT_TRUE(missing.absent_or_null());
  EXPECT_FALSE(missing.is_null());
  EXPECT_EQ(missing.str(), "");
  EXPECT_EQ(missing.text(), "");
  EXPECT_EQ(missing.size(), 0u);
  EXPECT_TRUE(missing.value().is_null());
  EXPECT_TRUE(doc.root()["a"].is_null());
  EXPECT_FALSE(doc.root()["a"].absent());
  EXPECT_TRUE(doc.root()["s"]["x"].absent());  // not an object
  EXPECT_FALSE(doc.root().contains("b"));
}

TEST(JsonDocument, StringsAreUnescapedAndKeysComparedSo) {
  const auto doc = read(R"({"k\u0065y":"a\"b\\c\u00e9\ud83d\ude00","plain":"caf\u00e9 ok"})");
  EXPECT_EQ(doc.root()["key"].str(), "a\"b\\c\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(doc.root()["key"].text(), R"("a\"b\\c\u00e9\ud83d\ude00")");
  EXPECT_EQ(doc.root()["plain"].str(), "caf\xC3\xA9 ok");
  EXPECT_TRUE(doc.root()["plain"].is_text("caf\xC3\xA9 ok"));
}

TEST(JsonDocument, TheLastOfARepeatedKeyIsRead) {
  bool duplicates = false;
  const auto doc = read(R"({"a":1,"b":{"x":1},"a":"two"})", &duplicates);
  EXPECT_TRUE(duplicates);
  EXPECT_EQ(doc.root()["a"].str(), "two");
  EXPECT_EQ(doc.root().size(), 3u);  // members as written
  EXPECT_EQ(doc.root().value(), *parse_json(doc.text()));

  // The same key written two ways is the same key.
  read(R"({"o":{"a":1,"\u0061":2}})", &duplicates);
  EXPECT_TRUE(duplicates);
  read(R"({"o":{"a":1,"b":2},"p":{"a":3}})", &duplicates);
  EXPECT_FALSE(duplicates);
}

// A document known to repeat no key (parsed with the report) finds each member at its first
// match; it reads the same members as one parsed without the report.
TEST(JsonDocument, ADocumentOfUniqueKeysReadsTheSameMembers) {
  const std::string text = R"({"ab":1,"a":2,"b":{"a":3,"ba":4},"ba":"x","":5})";
  bool duplicates = true;
  const auto checked = read(text, &duplicates);
  ASSERT_FALSE(duplicates);
  const auto plain = read(text);
  for (const char* key : {"ab", "a", "b", "ba", "", "c"}) {
    EXPECT_EQ(checked.root()[key].text(), plain.root()[key].text()) << key;
    EXPECT_EQ(checked.root()[key].absent(), plain.root()[key].absent()) << key;
  }
  EXPECT_EQ(checked.root()["b"]["ba"].text(), "4");
  EXPECT_EQ(checked.root()["b"]["a"].text(), "3");
}

// Small objects compare their keys pairwise, larger ones sorted: a repetition is told either way,
// wherever the two keys are.
TEST(JsonDocument, TellsARepeatedKeyInAnObjectOfAnySize) {
  for (const int members : {1, 2, 16, 17, 40}) {
    std::string distinct = "{";
    for (int i = 0; i < members; ++i) distinct += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
    bool duplicates = true;
    read(distinct + "}", &duplicates);
    EXPECT_FALSE(duplicates) << members;
    for (const int repeated : {0, members / 2, members - 1}) {
      duplicates = false;
      read(distinct + ",\"k" + std::to_string(repeated) + "\":null}", &duplicates);
      EXPECT_TRUE(duplicates) << members << " members, k" << repeated << " again";
    }
  }
}

TEST(JsonDocument, RefusesWhatParseJsonRefuses) {
  for (std::string bad :
       {"", "{", "[1,]", R"({"a" 1})", "01", "1e999", R"("\ud800")", "\"\xC0\xAF\"", "tru", "[1] x", "\"a\nb\""}) {
    EXPECT_FALSE(parse_json(bad).has_value()) << bad;
    EXPECT_FALSE(JsonDocument::parse(bad).has_value()) << bad;
  }
  EXPECT_FALSE(JsonDocument::parse(std::string(200, '[') + std::string(200, ']')).has_value());  // too deep
}

TEST(JsonDocument, TakesWhatParseJsonTakesAroundTheValue) {
  const auto bom = read("\xEF\xBB\xBF{\"a\":1}");
  EXPECT_EQ(bom.root()["a"].text(), "1");
  EXPECT_EQ(bom.root().text(), R"({"a":1})");
  EXPECT_EQ(bom.text(), "\xEF\xBB\xBF{\"a\":1}");  // the document keeps the text as it came
  const auto nul = read("[1]\0garbage"s);          // a NUL ends the input, as for parse_json
  EXPECT_EQ(nul.root().text(), "[1]");
  EXPECT_EQ(nul.root().value(), json::parse("[1]"));
}

TEST(JsonDocument, ClassifiesAsBuiltValuesAre) {
  for (const char* text :
       {R"({"jsonrpc":"2.0","id":"a","method":"m"})", R"({"jsonrpc":"2.0","method":"m"})",
        R"({"jsonrpc":"2.0","id":1,"result":{}})", R"({"jsonrpc":"2.0","id":null,"error":{"code":1}})",
        R"({"jsonrpc":"2.0","id":1.5,"method":"m"})", R"({"jsonrpc":"2.0","id":1,"method":"m","params":3})",
        R"({"jsonrpc":"1.0","id":1,"method":"m"})", R"({"jsonrpc":"2.0","id":1,"error":{"code":"x"}})", R"([1])"}) {
    const auto doc = read(text);
    EXPECT_EQ(classify(doc.root()), classify(json::parse(text))) << text;
  }
}

}  // namespace
}  // namespace mcp_sidecar::mcp

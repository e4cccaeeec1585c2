#include "core/json_write.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

namespace mcp_sidecar {
namespace {

using nlohmann::json;

// Every value is written exactly as nlohmann's dump() writes it, with either error handler.
TEST(JsonWrite, WritesWhatDumpWrites) {
  const json values[] = {
      nullptr,
      true,
      false,
      0,
      -1,
      std::numeric_limits<std::int64_t>::min(),
      std::numeric_limits<std::uint64_t>::max(),
      0.0,
      -0.0,
      1.5,
      1e300,
      3.0,
      0.1,
      std::numeric_limits<double>::quiet_NaN(),
      "",
      "plain ascii ~ 0x7f:\x7f",
      "quote \" backslash \\ slash /",
      "controls \b\f\n\r\t \x01 \x1f",
      "utf-8: \u00e9 \u4e2d \U0001F600",
      json::array(),
      json::object(),
      json::parse(R"({"b":[1,2.5,"x",{"z":null,"a":true}],"a":{"nested":{"k\"ey":"v\u00e9"}},"":0})"),
      json::binary({1, 2, 3}),
  };
  std::string every_ascii;
  for (int c = 0; c < 0x80; ++c) every_ascii += static_cast<char>(c);
  std::vector<json> all(std::begin(values), std::end(values));
  all.push_back(every_ascii);
  all.push_back({{every_ascii, every_ascii}});
  for (const auto& value : all) {
    EXPECT_EQ(dump_json(value), value.dump()) << value.dump();
    EXPECT_EQ(dump_json(value, JsonErrors::replace), value.dump(-1, ' ', false, JsonErrors::replace));
    std::string out = "prefix:";
    append_json(out, value);
    EXPECT_EQ(out, "prefix:" + value.dump());
  }
}

// Every byte value, at every place in a string of two 16-byte blocks and a tail, is written as
// dump() writes it: the check that lets a string through unescaped (16 bytes at a time) must
// miss none.
TEST(JsonWrite, EveryByteAtEveryPlace) {
  for (int byte = 0; byte < 0x100; ++byte) {
    for (std::size_t at = 0; at < 35; ++at) {
      std::string s(35, 'a');
      s[at] = static_cast<char>(byte);
      std::string out;
      append_json_string(out, s, JsonErrors::replace);
      ASSERT_EQ(out, json(s).dump(-1, ' ', false, JsonErrors::replace)) << "byte " << byte << " at " << at;
    }
  }
}

// Invalid UTF-8 throws as dump() does, or is replaced as dump(replace) does.
TEST(JsonWrite, InvalidUtf8AsDump) {
  const json bad = {{"k", "a\xff b"}, {"list", {"\xc3"}}};
  EXPECT_THROW(dump_json(bad), json::type_error);
  EXPECT_EQ(dump_json(bad, JsonErrors::replace), bad.dump(-1, ' ', false, JsonErrors::replace));
  std::string out;
  append_json_string(out, "tab\there");
  EXPECT_EQ(out, R"("tab\there")");
}

// A value kept as JSON text is written as that text, wherever it sits; other binary values as
// dump() writes them.
TEST(JsonWrite, JsonTextAsItIs) {
  const std::string text = R"([ {"z":1, "a":2.50, "s":"caf\u00e9"} ])";
  json message = {{"id", 1}, {"result", {{"content", json_text_value(text)}, {"isError", false}}}};
  EXPECT_TRUE(is_json_text(message["result"]["content"]));
  EXPECT_EQ(json_text(message["result"]["content"]), text);
  EXPECT_EQ(dump_json(message), R"({"id":1,"result":{"content":)" + text + R"(,"isError":false}})");
  const json bytes = json::binary({1, 2, 3});
  EXPECT_FALSE(is_json_text(bytes));
  EXPECT_FALSE(is_json_text(json::binary({1}, 7)));
  EXPECT_EQ(dump_json(bytes), bytes.dump());
}

}  // namespace
}  // namespace mcp_sidecar

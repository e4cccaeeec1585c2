// Kubernetes YAML <-> JSON: values resolved as kubectl reads them, written so every reader agrees.
#include "inject/yaml.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>

namespace mcp_sidecar::inject {
namespace {

Ordered one(const std::string& text) {
  auto docs = read_yaml(text);
  EXPECT_TRUE(docs) << docs.error().message;
  if (!docs || docs->size() != 1) return nullptr;
  return docs->front().value;
}

std::string error_of(const std::string& text) {
  auto docs = read_yaml(text);
  EXPECT_FALSE(docs) << text;
  return docs ? "" : docs.error().message;
}

TEST(Yaml, ResolvesPlainScalarsAsKubectlDoes) {
  const std::vector<std::pair<std::string, Ordered>> cases = {
      {"~", nullptr},
      {"null", nullptr},
      {"", nullptr},
      {"NULL", nullptr},
      {"true", true},
      {"False", false},
      {"yes", true},
      {"off", false},
      {"Y", true},
      {"n", false},
      {"8080", 8080},
      {"-12", -12},
      {"+7", 7},
      {"0", 0},
      {"0644", 420},
      {"0o17", 15},
      {"0x1F", 31},
      {"0b101", 5},
      {"1_000", 1000},
      {"1.5", 1.5},
      {"1e3", 1000.0},
      {".5", 0.5},
      {"-2.", -2.0},
      {"08", 8.0},
      {"1.0", 1.0},
      {"v1", "v1"},
      {"1.2.3", "1.2.3"},
      {"0x", "0x"},
      {"2024-01-02", "2024-01-02"},
      {"1e999", "1e999"},
      {"nope", "nope"},
      {"1:20", "1:20"},
      {"18446744073709551615", 18446744073709551615ULL},
      {"-9223372036854775808", INT64_MIN},
      {"99999999999999999999", 1e20},
  };
  for (const auto& [text, expected] : cases) {
    Ordered v = one("v: " + text)["v"];
    EXPECT_EQ(v, expected) << "'" << text << "' read as " << v.dump();
    EXPECT_EQ(v.type(), expected.type()) << "'" << text << "' read as " << v.dump();
  }
  EXPECT_TRUE(std::isinf(one("v: .inf")["v"].get<double>()));
  EXPECT_TRUE(std::isnan(one("v: .NaN")["v"].get<double>()));
}

TEST(Yaml, QuotedAndBlockScalarsStayStrings) {
  Ordered v = one("a: \"true\"\nb: '8080'\nc: \"0755\"\nd: |\n  x\ne: >\n  folded\n  text\nf: \"\"\ng: 'null'\n");
  EXPECT_EQ(v, Ordered::parse(R"({"a":"true","b":"8080","c":"0755","d":"x\n","e":"folded text\n","f":"","g":"null"})"));
}

TEST(Yaml, ExplicitTagsApply) {
  Ordered v = one("a: !!str 5\nb: !!int \"7\"\nc: !!float 1\nd: !!bool yes\ne: !custom 12\n");
  EXPECT_EQ(v, Ordered::parse(R"({"a":"5","b":7,"c":1.0,"d":true,"e":"12"})"));
  EXPECT_NE(error_of("a: !!int abc\n").find("does not match its !!int tag"), std::string::npos);
}

TEST(Yaml, KeysAreTheirTextAndKeepTheirOrder) {
  Ordered v = one("zeta: 1\nalpha: 2\n8080: x\n\"quoted\": y\nyes: z\n");
  std::vector<std::string> keys;
  for (const auto& [k, _] : v.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"zeta", "alpha", "8080", "quoted", "true"}));
}

TEST(Yaml, ExpandsAnchorsAliasesAndMergeKeys) {
  Ordered v = one("base: &b {cpu: 1, mem: 2}\nuse: *b\nmerged:\n  <<: *b\n  cpu: 3\n");
  EXPECT_EQ(v["use"], Ordered::parse(R"({"cpu":1,"mem":2})"));
  EXPECT_EQ(v["merged"], Ordered::parse(R"({"cpu":3,"mem":2})"));
}

TEST(Yaml, SplitsDocumentsAndDropsEmptyOnes) {
  auto docs = read_yaml("---\na: 1\n---\n# only a comment\n---\n\n---\nb: 2\n...\n");
  ASSERT_TRUE(docs) << docs.error().message;
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0].value, Ordered::parse(R"({"a":1})"));
  EXPECT_EQ((*docs)[0].number, 1);
  EXPECT_EQ((*docs)[0].line, 2);
  EXPECT_EQ((*docs)[1].value, Ordered::parse(R"({"b":2})"));
  EXPECT_EQ((*docs)[1].number, 4);
  EXPECT_EQ((*docs)[1].line, 8);
  EXPECT_TRUE(read_yaml("")->empty());
}

TEST(Yaml, ErrorsNameTheDocumentAndLine) {
  EXPECT_EQ(error_of("a: 1\n---\nb: [1, 2\nc: 3\n").rfind("document 2 (line ", 0), 0u);
  EXPECT_EQ(error_of("a: 1\n---\nb: 1\nb: 2\n"), "document 2 (line 4): the key \"b\" appears twice");
  EXPECT_EQ(error_of("? [a, b]\n: 1\n").rfind("document 1 (line 1): a mapping key must be a scalar", 0), 0u);
  EXPECT_EQ(error_of("a: 1\nb: \"\xff\"\n"),
            "document 1 (line 2): not UTF-8 text, or a control character YAML does not allow");
  EXPECT_EQ(error_of(std::string("a: 1\n---\nb: {\"x\0\": 1}\n", 22)).rfind("document 2 (line 3): not UTF-8 text", 0),
            0u);
  EXPECT_EQ(error_of("a: &a [*a]\n"),
            "document 1 (line 1): an alias to an anchor that is not complete (a recursive alias?)");
  EXPECT_NE(error_of(std::string(200, '[') + std::string(200, ']')).find("deeper than 128"), std::string::npos);
  EXPECT_NE(error_of("a: {<<: 3}\n").find("merge key needs a mapping"), std::string::npos);
}

// yaml-cpp 0.7 yields endless empty documents after a top-level flow collection and a comma.
TEST(Yaml, ErrorsInsteadOfLoopingWhereTheParserStalls) {
  EXPECT_EQ(error_of("{a: 1},").rfind("document ", 0), 0u);
  EXPECT_NE(error_of("kind: Pod\n---\n{a: 1}, b\n").find("invalid YAML"), std::string::npos);
}

TEST(Yaml, RefusesAnAliasBomb) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'j'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    bomb += std::string(1, c) + ": &" + std::string(1, c) + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
            ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n";
  }
  EXPECT_NE(error_of(bomb).find("too many values"), std::string::npos);
}

// Strings that YAML 1.1 or 1.2 readers would take for something else, or that need escapes.
const std::vector<std::string> kTricky = {"true",
                                          "yes",
                                          "Y",
                                          "n",
                                          "on",
                                          "Off",
                                          "null",
                                          "~",
                                          "",
                                          "0755",
                                          "8080",
                                          "1e3",
                                          ".5",
                                          "-1",
                                          "+1",
                                          "0x1F",
                                          "1_000",
                                          ".inf",
                                          "-.inf",
                                          ".nan",
                                          "2024-01-02",
                                          "1:20",
                                          "- x",
                                          "a: b",
                                          "#x",
                                          "x #y",
                                          "@x",
                                          "%x",
                                          "*x",
                                          "&x",
                                          "!x",
                                          "|x",
                                          ">x",
                                          "'x",
                                          "\"x",
                                          "{x",
                                          "[x",
                                          "?",
                                          ":x",
                                          "x:",
                                          "\ttab",
                                          "trailing ",
                                          " leading",
                                          "<<",
                                          "=",
                                          "a\x01"
                                          "b",
                                          "a\x7f",
                                          "é",
                                          "日本",
                                          "\xC2\x85",
                                          "\xE2\x80\xA8",
                                          "\xEF\xBB\xBF"
                                          "x",
                                          "\xC2\x80",
                                          "\xEF\xBF\xBE",
                                          "\r",
                                          "back\\slash",
                                          "a\"b",
                                          "a\nb",
                                          "a\nb\n",
                                          "a\nb\n\n",
                                          " a\nb\n",
                                          "\n",
                                          "\n\nx",
                                          "x\n  y\n",
                                          "a\r\nb",
                                          "x\n \ny",
                                          "tab\tin\nblock\n",
                                          "---",
                                          "...",
                                          "--- x",
                                          "%YAML",
                                          "k8s.io/name",
                                          "http://127.0.0.1:8000",
                                          "/healthz",
                                          "mcp-sidecar:0.1.0"};

TEST(Yaml, WrittenStringsReadBackAsTheSameStrings) {
  Ordered doc = Ordered::object();
  Ordered list = Ordered::array();
  for (const auto& s : kTricky) {
    doc[s] = s;  // as a key too
    list.push_back(s);
  }
  doc["list"] = list;
  doc["nested"] = {{"deeper", list}, {"seq_of_seq", Ordered::array({list, Ordered::array()})}};
  auto text = write_yaml({doc});
  ASSERT_TRUE(text) << text.error().message;
  EXPECT_EQ(one(*text), doc) << *text;
  // A YAML 1.2 reader (yaml-cpp's own tags) sees every string as a non-plain scalar or a plain one
  // that no schema resolves: quoted ones carry the "!" tag.
  YAML::Node n = YAML::Load(*text);
  for (std::size_t i = 0; i < kTricky.size(); ++i) {
    const auto& item = n["list"][i];
    if (item.Tag() == "?") {
      EXPECT_TRUE(one("v: " + item.Scalar())["v"].is_string()) << kTricky[i];
    }
  }
}

TEST(Yaml, RoundTripKeepsValuesTypesAndOrder) {
  const std::string text = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations:
    mcp-sidecar.io/inject: "true"
    note: |
      two
      lines
spec:
  replicas: 3
  ratio: 0.25
  flag: false
  nothing: null
  mode: "0755"
  octal: 0644
  empty_map: {}
  empty_list: []
  ports:
  - containerPort: 8080
    name: http
  - - nested
    - list
)";
  Ordered v = one(text);
  auto written = write_yaml({v});
  ASSERT_TRUE(written) << written.error().message;
  Ordered back = one(*written);
  EXPECT_EQ(back, v);
  EXPECT_EQ(back.dump(), v.dump()) << "key order";
  EXPECT_EQ(back["metadata"]["annotations"]["mcp-sidecar.io/inject"], "true");
  EXPECT_EQ(back["spec"]["ports"][0]["containerPort"], 8080);
  EXPECT_EQ(back["spec"]["mode"], "0755");
  EXPECT_EQ(back["spec"]["octal"], 420);
  EXPECT_NE(written->find("note: |\n      two\n      lines\n"), std::string::npos) << *written;
}

TEST(Yaml, WritesNumbersThatReadBackWithTheirType) {
  Ordered doc = {{"i", -5},           {"u", 18446744073709551615ULL},
                 {"f", 1.0},          {"g", 1e100},
                 {"h", -0.5},         {"inf", INFINITY},
                 {"minf", -INFINITY}, {"b", true},
                 {"n", nullptr}};
  auto text = write_yaml({doc});
  ASSERT_TRUE(text);
  Ordered back = one(*text);
  EXPECT_EQ(back["f"].type(), Ordered::value_t::number_float);
  EXPECT_EQ(back["u"], doc["u"]);
  EXPECT_EQ(back["g"], 1e100);
  EXPECT_TRUE(std::isinf(back["minf"].get<double>()));
  EXPECT_EQ(back["n"], nullptr);
}

TEST(Yaml, SeparatesDocumentsWithDashes) {
  auto text = write_yaml({Ordered{{"a", 1}}, Ordered{{"b", 2}}});
  ASSERT_TRUE(text);
  EXPECT_EQ(*text, "a: 1\n---\nb: 2\n");
}

}  // namespace
}  // namespace mcp_sidecar::inject

#include "mcp/tools.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar::mcp {
namespace {

using json = nlohmann::json;

TEST(ToolCatalog, ReadsNamesPropertiesAndAnnotations) {
  ToolCatalog c;
  std::string cursor;
  ASSERT_TRUE(c.add_page(json::parse(R"({"tools":[
    {"name":"lookup_company","inputSchema":{"type":"object","properties":{"company_number":{},"case_id":{}}},
     "annotations":{"readOnlyHint":true}},
    {"name":"record","inputSchema":{"type":"object"},"annotations":{"idempotentHint":"yes"}}
  ],"nextCursor":"page2"})"),
                         cursor));
  EXPECT_EQ(cursor, "page2");
  const ToolInfo* t = c.find("lookup_company");
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->declares("case_id"));
  EXPECT_FALSE(t->declares("legal_name"));
  EXPECT_TRUE(t->read_only);
  const ToolInfo* r = c.find("record");
  ASSERT_NE(r, nullptr);
  EXPECT_FALSE(r->idempotent);  // a non-boolean hint is not a promise
  EXPECT_EQ(c.find("missing"), nullptr);
  EXPECT_EQ(c.listed().size(), 2u);
}

TEST(ToolCatalog, PagesAccumulateAndDuplicatesKeepTheFirst) {
  ToolCatalog c;
  std::string cursor;
  ASSERT_TRUE(c.add_page(json::parse(R"({"tools":[{"name":"a"}],"nextCursor":"x"})"), cursor));
  ASSERT_TRUE(c.add_page(json::parse(R"({"tools":[{"name":"b"},{"name":"a","description":"dup"}]})"), cursor));
  EXPECT_TRUE(cursor.empty());
  EXPECT_EQ(c.tools().size(), 2u);
  EXPECT_FALSE(c.listed()[0].contains("description"));
}

TEST(ToolCatalog, RejectsMalformedPages) {
  ToolCatalog c;
  std::string cursor;
  EXPECT_FALSE(c.add_page(json::parse(R"({"tool":[]})"), cursor));
  EXPECT_FALSE(c.add_page(json::parse(R"({"tools":[{"title":"no name"}]})"), cursor));
  EXPECT_FALSE(c.add_page(json::parse(R"([])"), cursor));
}

// x-mcp-header (2026-07-28 Streamable HTTP, "Custom Headers from Tool Parameters").
TEST(HeaderParams, FindsAnnotatedPrimitivePropertiesAlongPropertiesChains) {
  auto hp = header_params_of(json::parse(R"({"type":"object","properties":{
    "region":{"type":"string","x-mcp-header":"Region"},
    "query":{"type":"string"},
    "tenant":{"type":"object","properties":{"id":{"type":"integer","x-mcp-header":"Tenant-Id"}}},
    "dry":{"type":"boolean","x-mcp-header":"Dry-Run"}}})"));
  ASSERT_TRUE(hp.invalid.empty()) << hp.invalid;
  ASSERT_EQ(hp.params.size(), 3u);
  auto path_of = [&](std::string_view header) {
    for (const auto& p : hp.params)
      if (p.header == header) return p.path;
    return std::vector<std::string>{};
  };
  EXPECT_EQ(path_of("Region"), std::vector<std::string>{"region"});
  EXPECT_EQ(path_of("Tenant-Id"), (std::vector<std::string>{"tenant", "id"}));
  EXPECT_EQ(path_of("Dry-Run"), std::vector<std::string>{"dry"});
}

TEST(HeaderParams, EveryRuleOfTheSpecificationMakesTheToolInvalid) {
  const char* invalid[] = {
      R"({"properties":{"a":{"type":"string","x-mcp-header":""}}})",                            // empty
      R"({"properties":{"a":{"type":"string","x-mcp-header":"Bad Name"}}})",                    // not a token
      R"({"properties":{"a":{"type":"string","x-mcp-header":"A\r\nX: y"}}})",                   // control characters
      R"({"properties":{"a":{"type":"number","x-mcp-header":"A"}}})",                           // number
      R"({"properties":{"a":{"type":"object","x-mcp-header":"A"}}})",                           // not primitive
      R"({"properties":{"a":{"type":"string","x-mcp-header":"Dup"},
                        "b":{"type":"string","x-mcp-header":"dup"}}})",                         // not unique
      R"({"properties":{"a":{"type":"array","items":{"type":"string","x-mcp-header":"A"}}}})",  // through items
      R"({"properties":{"a":{"anyOf":[{"type":"string","x-mcp-header":"A"}]}}})",               // composition
      R"({"$defs":{"a":{"type":"string","x-mcp-header":"A"}}})",                                // not reachable
      R"({"type":"string","x-mcp-header":"Root"})",                                             // the root itself
      R"({"properties":{"a":{"type":"string","x-mcp-header":7}}})",                             // not a string
  };
  for (const char* schema : invalid) {
    auto hp = header_params_of(json::parse(schema));
    EXPECT_FALSE(hp.invalid.empty()) << schema;
    EXPECT_TRUE(hp.params.empty()) << schema;
  }
}

TEST(ToolCatalog, LeavesOutToolsWithInvalidHeaderAnnotationsAndReadsCachingHints) {
  ToolCatalog c;
  std::string cursor;
  ASSERT_TRUE(c.add_page(json::parse(R"({"tools":[
    {"name":"valid_tool","inputSchema":{"type":"object","properties":{"r":{"type":"string","x-mcp-header":"R"}}}},
    {"name":"bad_tool","inputSchema":{"type":"object","properties":{"n":{"type":"number","x-mcp-header":"N"}}}}
  ],"ttlMs":1500,"cacheScope":"private"})"),
                         cursor));
  ASSERT_NE(c.find("valid_tool"), nullptr);
  EXPECT_EQ(c.find("valid_tool")->header_params.size(), 1u);
  EXPECT_EQ(c.find("bad_tool"), nullptr);
  EXPECT_EQ(c.listed().size(), 1u);  // excluded from the list callers see, too
  ASSERT_EQ(c.rejected().size(), 1u);
  EXPECT_EQ(c.rejected()[0].rfind("bad_tool: ", 0), 0u);
  EXPECT_EQ(c.ttl_ms(), 1500);
  EXPECT_TRUE(c.private_scope());

  ToolCatalog plain;
  ASSERT_TRUE(plain.add_page(json::parse(R"({"tools":[]})"), cursor));
  EXPECT_EQ(plain.ttl_ms(), std::nullopt);
  EXPECT_FALSE(plain.private_scope());
}

}  // namespace
}  // namespace mcp_sidecar::mcp

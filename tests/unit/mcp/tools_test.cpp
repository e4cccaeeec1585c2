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

}  // namespace
}  // namespace mcp_sidecar::mcp

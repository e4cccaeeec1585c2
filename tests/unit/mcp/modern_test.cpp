#include "mcp/modern.hpp"

#include "http/request.hpp"
#include "mcp/headers.hpp"

#include <gtest/gtest.h>

#include <map>

namespace mcp_sidecar::mcp {
namespace {

using json = nlohmann::json;

struct Headers {
  std::map<std::string, std::string> values;  // lowercase names
  HeaderLookup lookup() const {
    return [this](std::string_view name) -> std::optional<std::string_view> {
      std::string lower(name);
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto it = values.find(lower);
      if (it == values.end()) return std::nullopt;
      return it->second;
    };
  }
};

const std::vector<std::string> kServed = {"2026-07-28"};

json call(std::string name = "ping") {
  return {{"jsonrpc", "2.0"},
          {"id", 1},
          {"method", "tools/call"},
          {"params",
           {{"name", name},
            {"arguments", json::object()},
            {"_meta",
             {{"io.modelcontextprotocol/protocolVersion", "2026-07-28"},
              {"io.modelcontextprotocol/clientCapabilities", json::object()}}}}}};
}

Headers good() {
  return {{{"mcp-protocol-version", "2026-07-28"}, {"mcp-method", "tools/call"}, {"mcp-name", "ping"}}};
}

TEST(ModernRequest, AcceptsAConformingRequest) {
  EXPECT_EQ(check_modern_request(call(), good().lookup(), kServed), std::nullopt);
}

TEST(ModernRequest, EachHeaderRuleRefusesWithHeaderMismatch) {
  for (const char* missing : {"mcp-protocol-version", "mcp-method", "mcp-name"}) {
    auto h = good();
    h.values.erase(missing);
    auto r = check_modern_request(call(), h.lookup(), kServed);
    ASSERT_TRUE(r) << missing;
    EXPECT_EQ(r->status, 400u);
    EXPECT_EQ(r->code, kHeaderMismatch) << missing;
  }
  auto h = good();
  h.values["mcp-name"] = "lookup_company";  // a header naming another tool than the body
  EXPECT_EQ(check_modern_request(call(), h.lookup(), kServed)->code, kHeaderMismatch);
  h = good();
  h.values["mcp-method"] = "tools/list";
  EXPECT_EQ(check_modern_request(call(), h.lookup(), kServed)->code, kHeaderMismatch);
  h = good();
  h.values["mcp-protocol-version"] = "2025-11-25";
  EXPECT_EQ(check_modern_request(call(), h.lookup(), kServed)->code, kHeaderMismatch);
}

TEST(ModernRequest, EncodedNamesAreDecodedBeforeComparing) {
  auto h = good();
  h.values["mcp-name"] = "=?base64?w7xiZXI=?=";  // "über"
  EXPECT_EQ(check_modern_request(call("\xC3\xBC"
                                      "ber"),
                                 h.lookup(), kServed),
            std::nullopt);
  h.values["mcp-name"] = "=?base64?!!!?=";
  EXPECT_EQ(check_modern_request(call("x"), h.lookup(), kServed)->code, kHeaderMismatch);
}

// Headers as the served request holds them, one line per pair.
http::Request request_with(std::initializer_list<std::pair<std::string_view, std::string_view>> lines) {
  http::Request req(boost::beast::http::verb::post, "/mcp/registry", 11);
  for (const auto& [name, value] : lines) req.insert(name, value);
  return req;
}

TEST(ModernRequest, RepeatedHeaderLinesAreCombinedAndRefused) {
  auto fields = request_with(
      {{"MCP-Protocol-Version", "2026-07-28"}, {"Mcp-Method", "tools/call"}, {"X-Other", "1"}, {"Mcp-Name", "ping"}});
  EXPECT_EQ(check_modern_request(call(), lookup_in(fields), kServed), std::nullopt);

  // RFC 9110 5.3: the lines are one list, which no single name equals, whichever line comes first.
  fields.insert("mcp-name", "lookup_company");
  const auto lookup = lookup_in(fields);
  EXPECT_EQ(lookup("Mcp-Name"), "ping, lookup_company");
  EXPECT_EQ(lookup("mcp-method"), "tools/call");
  EXPECT_EQ(lookup("Mcp-Absent"), std::nullopt);
  EXPECT_EQ(lookup("Mcp-Name"), "ping, lookup_company");  // earlier values stay valid
  EXPECT_EQ(check_modern_request(call(), lookup, kServed)->code, kHeaderMismatch);
  // The same value twice is refused too: these headers carry one value.
  const auto twice = request_with({{"MCP-Protocol-Version", "2026-07-28"},
                                   {"Mcp-Method", "tools/call"},
                                   {"Mcp-Name", "ping"},
                                   {"Mcp-Name", "ping"}});
  EXPECT_EQ(check_modern_request(call(), lookup_in(twice), kServed)->code, kHeaderMismatch);

  std::vector<HeaderParam> params = {{"Region", {"region"}}};
  auto param_fields = request_with({{"Mcp-Param-Region", "eu"}});
  EXPECT_EQ(check_param_headers(params, {{"region", "eu"}}, lookup_in(param_fields)), std::nullopt);
  param_fields.insert("Mcp-Param-Region", "us");
  EXPECT_EQ(check_param_headers(params, {{"region", "eu"}}, lookup_in(param_fields))->code, kHeaderMismatch);
}

TEST(ModernRequest, VersionAndMetaRefusals) {
  auto m = call();
  m["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2099-01-01";
  auto h = good();
  h.values["mcp-protocol-version"] = "2099-01-01";
  auto r = check_modern_request(m, h.lookup(), kServed);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->code, kUnsupportedProtocolVersion);
  EXPECT_EQ(r->data["supported"], json(kServed));
  EXPECT_EQ(r->data["requested"], "2099-01-01");

  auto no_meta = call();
  no_meta["params"].erase("_meta");
  EXPECT_EQ(check_modern_request(no_meta, good().lookup(), kServed)->code, -32602);
  auto no_caps = call();
  no_caps["params"]["_meta"].erase("io.modelcontextprotocol/clientCapabilities");
  EXPECT_EQ(check_modern_request(no_caps, good().lookup(), kServed)->code, -32602);
}

TEST(ParamHeaders, ValuesNeedTheirHeaderEqualAfterDecoding) {
  std::vector<HeaderParam> params = {{"Region", {"region"}}, {"Count", {"count"}}, {"Tenant", {"t", "id"}}};
  json args = {{"region", "us-west1"}, {"count", 42}, {"t", {{"id", "Z\xC3\xBCrich"}}}};
  Headers h{
      {{"mcp-param-region", "us-west1"}, {"mcp-param-count", "42.0"}, {"mcp-param-tenant", "=?base64?WsO8cmljaA==?="}}};
  EXPECT_EQ(check_param_headers(params, args, h.lookup()), std::nullopt);

  auto wrong = h;
  wrong.values["mcp-param-region"] = "eu-west1";
  EXPECT_EQ(check_param_headers(params, args, wrong.lookup())->code, kHeaderMismatch);
  auto missing = h;
  missing.values.erase("mcp-param-count");
  EXPECT_EQ(check_param_headers(params, args, missing.lookup())->code, kHeaderMismatch);
  // Absent or null values need no header.
  json fewer = {{"region", "us-west1"}, {"count", nullptr}};
  Headers only{{{"mcp-param-region", "us-west1"}}};
  EXPECT_EQ(check_param_headers(params, fewer, only.lookup()), std::nullopt);
}

}  // namespace
}  // namespace mcp_sidecar::mcp

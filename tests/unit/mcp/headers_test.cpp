#include "mcp/headers.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar::mcp {
namespace {

using json = nlohmann::json;

// The examples of the 2026-07-28 Streamable HTTP "Value Encoding" table.
TEST(HeaderValue, EncodesAsTheSpecificationShows) {
  EXPECT_EQ(encode_header_value("us-west1"), "us-west1");
  EXPECT_EQ(encode_header_value("Hello, \xE4\xB8\x96\xE7\x95\x8C"), "=?base64?SGVsbG8sIOS4lueVjA==?=");
  EXPECT_EQ(encode_header_value(" padded "), "=?base64?IHBhZGRlZCA=?=");
  EXPECT_EQ(encode_header_value("line1\nline2"), "=?base64?bGluZTEKbGluZTI=?=");
  EXPECT_EQ(encode_header_value("=?base64?literal?="), "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=");
  EXPECT_EQ(encode_header_value("tab\tinside"), "=?base64?dGFiCWluc2lkZQ==?=");
}

TEST(HeaderValue, DecodesWhatItEncodes) {
  for (std::string v : {"plain", "Hello, \xE4\xB8\x96\xE7\x95\x8C", " x", "a\r\nInjected: yes", "=?base64?x?=", "",
                        "ab", "abc", "abcd"})
    EXPECT_EQ(decode_header_value(encode_header_value(v)), v) << v;
}

TEST(HeaderValue, RefusesMalformedBase64AndControlCharacters) {
  EXPECT_EQ(decode_header_value("=?base64?***?="), std::nullopt);
  EXPECT_EQ(decode_header_value("=?base64?QQ=A?="), std::nullopt);  // data after padding
  EXPECT_EQ(decode_header_value("=?base64?QUJD?="), "ABC");
  EXPECT_EQ(decode_header_value("bell\x07"), std::nullopt);
  EXPECT_EQ(decode_header_value("with\ttab"), "with\ttab");
}

TEST(RequestMeta, AddsTheProtocolFieldsAndKeepsTheCallersOwn) {
  json params = {{"name", "t"}, {"_meta", {{"io.mcp-sidecar/case_id", "c1"}}}};
  add_request_meta(params, "2026-07-28", {{"name", "mcp-sidecar"}}, {{"elicitation", json::object()}});
  const json& meta = params["_meta"];
  EXPECT_EQ(meta["io.modelcontextprotocol/protocolVersion"], "2026-07-28");
  EXPECT_EQ(meta["io.modelcontextprotocol/clientInfo"]["name"], "mcp-sidecar");
  EXPECT_TRUE(meta["io.modelcontextprotocol/clientCapabilities"].contains("elicitation"));
  EXPECT_EQ(meta["io.mcp-sidecar/case_id"], "c1");

  json none = nullptr;  // methods without params still carry _meta
  add_request_meta(none, "2026-07-28", json::object(), json::object());
  EXPECT_TRUE(none["_meta"].contains("io.modelcontextprotocol/protocolVersion"));
}

TEST(MirroredName, NameOrUriOfTheMethodsThatHaveOne) {
  EXPECT_EQ(mirrored_name("tools/call", {{"name", "lookup"}}), "lookup");
  EXPECT_EQ(mirrored_name("prompts/get", {{"name", "p"}}), "p");
  EXPECT_EQ(mirrored_name("resources/read", {{"uri", "file:///a"}}), "file:///a");
  EXPECT_EQ(mirrored_name("tools/list", {{"name", "x"}}), "");
  EXPECT_EQ(mirrored_name("tools/call", {{"name", 7}}), "");
}

TEST(HeaderText, PrimitivesOnly) {
  EXPECT_EQ(header_text("us-west1"), "us-west1");
  EXPECT_EQ(header_text(42), "42");
  EXPECT_EQ(header_text(-7), "-7");
  EXPECT_EQ(header_text(true), "true");
  EXPECT_EQ(header_text(false), "false");
  EXPECT_EQ(header_text(1.5), std::nullopt);
  EXPECT_EQ(header_text(json::array()), std::nullopt);
  EXPECT_EQ(header_text(nullptr), std::nullopt);
}

// The backward-compatibility rule: only these bodies show a 2026-07-28 server.
TEST(ModernError, RecognizedCodesWithTheirStatus) {
  EXPECT_TRUE(is_modern_error(400, kUnsupportedProtocolVersion));
  EXPECT_TRUE(is_modern_error(400, kHeaderMismatch));
  EXPECT_TRUE(is_modern_error(400, kMissingRequiredClientCapability));
  EXPECT_TRUE(is_modern_error(404, -32601));
  EXPECT_FALSE(is_modern_error(400, -32600));  // "Bad Request: no valid session" from a 2025 server
  EXPECT_FALSE(is_modern_error(400, -32000));
  EXPECT_FALSE(is_modern_error(400, 0));  // no JSON-RPC body at all
  EXPECT_FALSE(is_modern_error(404, 0));  // a plain 404 (an HTTP+SSE server's POST endpoint)
  EXPECT_FALSE(is_modern_error(405, -32601));
}

TEST(ModernError, SupportedVersionsOfAnUnsupportedVersionError) {
  json e = {{"code", -32022}, {"data", {{"supported", {"2026-07-28", "2025-11-25"}}, {"requested", "1900-01-01"}}}};
  EXPECT_EQ(error_code_of(e), -32022);
  EXPECT_TRUE(supports_version(e, "2026-07-28"));
  EXPECT_FALSE(supports_version(e, "2099-01-01"));
  EXPECT_FALSE(supports_version({{"code", -32022}}, "2026-07-28"));
  EXPECT_EQ(error_code_of("not an object"), 0);
}

}  // namespace
}  // namespace mcp_sidecar::mcp

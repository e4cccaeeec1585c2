// The 2026-07-28 request metadata: the `_meta` fields every modern request carries, the HTTP
// headers that mirror the body (MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Param-*), and
// the value encoding those headers use (plain ASCII, else "=?base64?...?="). Pure.
#pragma once

#include "mcp/json_document.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace mcp_sidecar::mcp {

inline constexpr std::string_view kMetaProtocolVersion = "io.modelcontextprotocol/protocolVersion";
inline constexpr std::string_view kMetaClientInfo = "io.modelcontextprotocol/clientInfo";
inline constexpr std::string_view kMetaClientCapabilities = "io.modelcontextprotocol/clientCapabilities";
inline constexpr std::string_view kMetaServerInfo = "io.modelcontextprotocol/serverInfo";
inline constexpr std::string_view kMetaLogLevel = "io.modelcontextprotocol/logLevel";
inline constexpr std::string_view kMetaPrefix = "io.modelcontextprotocol/";

inline constexpr std::string_view kMethodHeader = "Mcp-Method";
inline constexpr std::string_view kNameHeader = "Mcp-Name";
inline constexpr std::string_view kParamHeaderPrefix = "Mcp-Param-";

// Error codes the 2026-07-28 revision defines.
inline constexpr int kHeaderMismatch = -32020;
inline constexpr int kMissingRequiredClientCapability = -32021;
inline constexpr int kUnsupportedProtocolVersion = -32022;

// The code of a JSON-RPC error object (0 when it has none).
int error_code_of(const nlohmann::json& error);
// Whether an HTTP refusal carries a recognized modern JSON-RPC error, which shows a 2026-07-28
// server (the backward-compatibility rules): -32020, -32021 or -32022 with 400, or method not
// found (-32601) with 404.
bool is_modern_error(unsigned http_status, int code);
// Whether a JSON array of version strings contains `version`.
bool lists_version(const nlohmann::json& versions, std::string_view version);
// Whether an UnsupportedProtocolVersionError lists `version` in data.supported.
bool supports_version(const nlohmann::json& error, std::string_view version);

// A header value for `value`: as is when it is plain, header-safe ASCII; otherwise (non-ASCII,
// control characters, leading or trailing whitespace, or a value that looks like the sentinel)
// "=?base64?<base64 of the UTF-8>?=".
std::string encode_header_value(std::string_view value);
// The value a header carries (decoding the base64 sentinel); nullopt for malformed base64 or
// characters a header value must not contain.
std::optional<std::string> decode_header_value(std::string_view header);

// params._meta gains the per-request protocol fields (kept where the caller already set them).
void add_request_meta(nlohmann::json& params, std::string_view version, const nlohmann::json& client_info,
                      const nlohmann::json& client_capabilities);

// The name a request's Mcp-Name header mirrors: params.name (tools/call, prompts/get) or
// params.uri (resources/read); empty for other methods.
// `params` is a JsonView or a ValueView (mcp/json_document.hpp).
template <class View>
std::string mirrored_name(std::string_view method, View params) {
  const char* key = nullptr;
  if (method == "tools/call" || method == "prompts/get")
    key = "name";
  else if (method == "resources/read")
    key = "uri";
  return key ? std::string(params[key].str()) : std::string();
}
inline std::string mirrored_name(std::string_view method, const nlohmann::json& params) {
  return mirrored_name(method, ValueView(params));
}

// The string an x-mcp-header parameter value becomes: strings as is, integers in decimal,
// booleans as true/false; nullopt for any other type (such a value is not mirrored).
std::optional<std::string> header_text(const nlohmann::json& value);

}  // namespace mcp_sidecar::mcp

#include "mcp/modern.hpp"

#include "mcp/headers.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/protocol.hpp"

#include <algorithm>

namespace mcp_sidecar::mcp {

namespace {

Refusal mismatch(std::string message) { return {400, kHeaderMismatch, std::move(message)}; }

// The value at a chain of `properties` keys, or null when absent.
const nlohmann::json* at_path(const nlohmann::json& arguments, const std::vector<std::string>& path) {
  const nlohmann::json* value = &arguments;
  for (const auto& key : path) {
    if (!value->is_object()) return nullptr;
    auto it = value->find(key);
    if (it == value->end()) return nullptr;
    value = &*it;
  }
  return value;
}

bool same_value(const nlohmann::json& body, const std::string& header) {
  if (body.is_number_integer()) {
    // Compared as numbers ("42" and "42.0" are the same integer).
    try {
      std::size_t used = 0;
      const double h = std::stod(header, &used);
      return used == header.size() && h == body.get<double>();
    } catch (...) {
      return false;
    }
  }
  auto text = header_text(body);
  return text && *text == header;
}

}  // namespace

namespace {

template <class View>
std::optional<Refusal> check_modern(View message, const HeaderLookup& header,
                                    const std::vector<std::string>& supported) {
  const std::string_view method = message["method"].str();
  const auto version_header = header(kProtocolVersionHeader);
  if (!version_header) return mismatch("the required MCP-Protocol-Version header is absent");

  const View params = message["params"];
  const View meta = params["_meta"];
  if (!meta.is_object())
    return Refusal{400, kInvalidParams, "the request has no _meta with the protocol fields", {{"missing", {"_meta"}}}};
  const View version = meta[kMetaProtocolVersion];
  if (!version.is_string())
    return Refusal{400,
                   kInvalidParams,
                   "_meta has no io.modelcontextprotocol/protocolVersion",
                   {{"missing", {std::string(kMetaProtocolVersion)}}}};
  const std::string_view requested = version.str();
  if (*version_header != requested) return mismatch("the MCP-Protocol-Version header disagrees with _meta");
  if (std::find(supported.begin(), supported.end(), requested) == supported.end())
    return Refusal{400,
                   kUnsupportedProtocolVersion,
                   "Unsupported protocol version",
                   {{"supported", supported}, {"requested", requested}}};
  if (!meta[kMetaClientCapabilities].is_object())
    return Refusal{400,
                   kInvalidParams,
                   "_meta has no io.modelcontextprotocol/clientCapabilities",
                   {{"missing", {std::string(kMetaClientCapabilities)}}}};

  const auto method_header = header(kMethodHeader);
  if (!method_header) return mismatch("the required Mcp-Method header is absent");
  if (*method_header != method) return mismatch("the Mcp-Method header disagrees with the body's method");
  if (method == "tools/call" || method == "prompts/get" || method == "resources/read") {
    const auto name_header = header(kNameHeader);
    if (!name_header) return mismatch("the required Mcp-Name header is absent");
    auto decoded = decode_header_value(*name_header);
    if (!decoded) return mismatch("the Mcp-Name header is not a valid header value");
    if (*decoded != mirrored_name(method, params)) return mismatch("the Mcp-Name header disagrees with the body");
  }
  return std::nullopt;
}

}  // namespace

std::optional<Refusal> check_modern_request(const nlohmann::json& message, const HeaderLookup& header,
                                            const std::vector<std::string>& supported) {
  return check_modern(ValueView(message), header, supported);
}

std::optional<Refusal> check_modern_request(JsonView message, const HeaderLookup& header,
                                            const std::vector<std::string>& supported) {
  return check_modern(message, header, supported);
}

std::optional<Refusal> check_param_headers(const std::vector<HeaderParam>& params, const nlohmann::json& arguments,
                                           const HeaderLookup& header) {
  for (const auto& param : params) {
    const std::string name = std::string(kParamHeaderPrefix) + param.header;
    const nlohmann::json* value = at_path(arguments, param.path);
    const auto raw = header(name);
    if (!value || value->is_null()) continue;  // nothing to mirror; a stray header is ignored
    if (!raw) return mismatch("the required " + name + " header is absent");
    auto decoded = decode_header_value(*raw);
    if (!decoded) return mismatch("the " + name + " header is not a valid header value");
    if (!same_value(*value, *decoded)) return mismatch("the " + name + " header disagrees with the body");
  }
  return std::nullopt;
}

}  // namespace mcp_sidecar::mcp

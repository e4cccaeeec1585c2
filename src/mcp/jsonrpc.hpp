// JSON-RPC 2.0 as MCP uses it: classify messages, build requests, notifications and errors.
// Pure functions over nlohmann::json; no I/O.
#pragma once

#include "mcp/json_document.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace mcp_sidecar::mcp {

using json = nlohmann::json;

// Standard JSON-RPC error codes and the MCP ones the sidecar produces.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;

enum class MessageKind { request, notification, result, error, invalid };

// What a parsed JSON value is, as a JSON-RPC 2.0 message (batches are arrays; classify an element).
MessageKind classify(const json& message);
MessageKind classify(JsonView message);

// True when `value` is the string `text`. Comparing with `value == "text"` builds a JSON value
// of the literal first.
inline bool is_text(const json& value, std::string_view text) {
  return value.is_string() && value.get_ref<const std::string&>() == text;
}

// True for the id types JSON-RPC allows in requests (string or integer; MCP forbids null).
bool valid_id(const json& id);

json make_request(json id, std::string_view method, json params);
// make_request(id, method, params).dump(), byte for byte, without copying params into a message.
std::string request_text(const json& id, std::string_view method, const json& params);

// The client capability a server-to-client request needs ("sampling", "elicitation", "roots"),
// or nullptr for one that needs none (ping) or that MCP does not define.
const char* capability_for(std::string_view method);
// Whether declared client capabilities let a server ask the client anything.
bool answers_server_requests(const json& capabilities);
json make_notification(std::string_view method, json params);
json make_result(json id, json result);
// make_result(id, result) already written: a json_text_value (core/json_write.hpp) of its
// dump(), byte for byte (invalid UTF-8 replaced, as JsonErrors::replace writes it), for an answer
// that is only written out. Saves building the envelope and copying `result` into it.
json result_message(const json& id, const json& result);
json make_error(json id, int code, std::string_view message, json data = nullptr);

}  // namespace mcp_sidecar::mcp

// Writing JSON for the wire: byte for byte what nlohmann's compact dump() writes, at a fraction
// of its cost for what MCP messages are mostly made of (ASCII strings without escapes, integers).
// Other strings and floating-point numbers are written by nlohmann itself.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace mcp_sidecar {

using JsonErrors = nlohmann::json::error_handler_t;

// A value the sidecar passes on without reading it, kept as the JSON text it came in (already
// checked as JSON: mcp::parse_tool_response): nlohmann's binary type with this subtype, which
// append_json writes as that text. Only append_json may write such a value (nlohmann's dump()
// would write a byte array).
inline constexpr std::uint64_t kJsonTextSubtype = 0x4A53;
nlohmann::json json_text_value(std::string_view text);
bool is_json_text(const nlohmann::json& value);
std::string_view json_text(const nlohmann::json& value);  // the text of an is_json_text value

// Appends value.dump(-1, ' ', false, errors) to `out`, and the text of a json_text_value as it
// is. With JsonErrors::strict (as dump()), invalid UTF-8 in a string throws
// nlohmann::json::type_error, as dump() does.
void append_json(std::string& out, const nlohmann::json& value, JsonErrors errors = JsonErrors::strict);
// Appends `s` as a JSON string literal, as dump() writes one.
void append_json_string(std::string& out, std::string_view s, JsonErrors errors = JsonErrors::strict);
std::string dump_json(const nlohmann::json& value, JsonErrors errors = JsonErrors::strict);

// What a message written out whole (dump_json, mcp::request_text) reserves at once: a JSON-RPC
// message's usual size, so that it is not reallocated five times on the way (15, 30, ... 480).
inline constexpr std::size_t kJsonTextReserve = 512;

}  // namespace mcp_sidecar

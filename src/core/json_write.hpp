// Writing JSON for the wire: byte for byte what nlohmann's compact dump() writes, at a fraction
// of its cost for what MCP messages are mostly made of (ASCII strings without escapes, integers).
// Other strings and floating-point numbers are written by nlohmann itself.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace mcp_sidecar {

using JsonErrors = nlohmann::json::error_handler_t;

// Appends value.dump(-1, ' ', false, errors) to `out`. With JsonErrors::strict (as dump()),
// invalid UTF-8 in a string throws nlohmann::json::type_error, as dump() does.
void append_json(std::string& out, const nlohmann::json& value, JsonErrors errors = JsonErrors::strict);
// Appends `s` as a JSON string literal, as dump() writes one.
void append_json_string(std::string& out, std::string_view s, JsonErrors errors = JsonErrors::strict);
std::string dump_json(const nlohmann::json& value, JsonErrors errors = JsonErrors::strict);

}  // namespace mcp_sidecar

// Parsing JSON that came from the network: bounded nesting depth (the parser recurses once per
// level and stops at the limit, so a million '[' cannot exhaust the stack), no exceptions,
// invalid UTF-8 refused.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string_view>

namespace mcp_sidecar::mcp {

inline constexpr int kMaxJsonDepth = 128;

// True when no array/object in `text` nests deeper than `max_depth` (strings are skipped).
bool json_depth_within(std::string_view text, int max_depth = kMaxJsonDepth);

// The parsed value, or nullopt for malformed, too deep, or invalid UTF-8 input. Accepts exactly
// what nlohmann::json::parse(text, nullptr, false) accepts within the depth rule of
// json_depth_within, with the same values and number types, at a fraction of its cost.
std::optional<nlohmann::json> parse_json(std::string_view text, int max_depth = kMaxJsonDepth);

}  // namespace mcp_sidecar::mcp

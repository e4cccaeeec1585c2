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
// The same, telling also whether an object in `text` repeats a key. JSON leaves the meaning of
// that open (the value here keeps the last, as nlohmann does; other parsers keep the first), so
// a proxy that checks messages must not pass on such text as it came (the inbound gate).
std::optional<nlohmann::json> parse_json(std::string_view text, bool& duplicate_keys, int max_depth = kMaxJsonDepth);

// parse_json for the JSON-RPC message answering a tools/call, except that what the tool returned
// (the result's `content` and `structuredContent`, which the sidecar passes on unread) is kept
// as the text it came in (core/json_write.hpp: json_text_value), checked as parse_json checks
// it. The client gets those bytes as the server wrote them: not parsed, built, destroyed and
// written again, and with their members in the server's order.
std::optional<nlohmann::json> parse_tool_response(std::string_view text, int max_depth = kMaxJsonDepth);

// Empties `value` from the leaves up, for a value about to be destroyed. nlohmann's destructor
// first moves every member of every nested object and array onto a vector of its own, so that
// no value is deep enough to exhaust the stack; for the small, shallow values of a call that
// costs more than the destruction itself. Recursion stops at kMaxJsonDepth + 8 levels (a parsed
// value inside a message or two): anything deeper is left to nlohmann's destructor.
void dispose(nlohmann::json& value);

// Disposes of `value` when the scope ends (before the value's own destructor runs).
class Disposing {
 public:
  explicit Disposing(nlohmann::json& value) : value_(value) {}
  Disposing(const Disposing&) = delete;
  Disposing& operator=(const Disposing&) = delete;
  ~Disposing() { dispose(value_); }

 private:
  nlohmann::json& value_;
};

}  // namespace mcp_sidecar::mcp

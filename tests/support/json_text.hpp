// For tests of values holding JSON kept as text (core/json_write.hpp): the value with every such
// member parsed in its place, to compare node by node with a value built whole.
#pragma once

#include "core/json_write.hpp"
#include "mcp/json_parse.hpp"

namespace mcp_sidecar::test_support {

inline nlohmann::json expand_json_text(const nlohmann::json& value) {
  if (is_json_text(value)) return expand_json_text(*mcp::parse_json(json_text(value)));
  if (!value.is_structured()) return value;
  nlohmann::json out = value.is_object() ? nlohmann::json::object() : nlohmann::json::array();
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (value.is_object())
      out[it.key()] = expand_json_text(*it);
    else
      out.push_back(expand_json_text(*it));
  }
  return out;
}

}  // namespace mcp_sidecar::test_support

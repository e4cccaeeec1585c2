// Kubernetes YAML <-> JSON for `mcp-sidecar inject -f`, faithful to what the API server would get.
//
// Reading resolves plain scalars as kubectl does (sigs.k8s.io/yaml, which reads YAML 1.1 through
// go-yaml v2): null (~, null, empty), booleans (true/false and y/yes/on, n/no/off in their case
// variants), integers (decimal, 0x hex, 0o or leading-0 octal, 0b binary, `_` separators), floats
// (1.5, 1e3, .inf, .nan); anything else, and every quoted or block scalar, is a string. So
// `defaultMode: 0644` is 420, as the API server would see it, and "0644" stays a string. Explicit
// !!str/!!int/!!float/!!bool/!!null tags apply; anchors, aliases and << merge keys are expanded
// (bounded, so an alias bomb is an error); a key that appears twice is an error.
//
// Writing produces block YAML that reads back to the same values and types under both YAML 1.1
// (kubectl) and YAML 1.2 (most other tools): a string that could be read as anything else is
// double-quoted, multi-line strings are literal blocks. Every document written is read back and
// compared; if they differ, it is written again with every string double-quoted. Comments, anchors
// and flow style are not kept; key order is. Pure.
#pragma once

#include "core/result.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace mcp_sidecar::inject {

using Ordered = nlohmann::ordered_json;

struct Document {
  Ordered value;
  int number = 0;  // position in the stream, from 1 (empty documents count)
  int line = 0;    // where it starts, from 1
};

// The non-empty documents of a YAML stream. An error (bad_request) names the document and line.
Result<std::vector<Document>> read_yaml(std::string_view text);

// The values as a YAML stream, documents separated by "---".
Result<std::string> write_yaml(const std::vector<Ordered>& documents);

}  // namespace mcp_sidecar::inject

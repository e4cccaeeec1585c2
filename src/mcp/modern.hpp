// What a 2026-07-28 server must check before it runs a request that arrived over Streamable HTTP:
// the `_meta` protocol fields, the MCP-Protocol-Version, Mcp-Method and Mcp-Name headers and
// their agreement with the body, and the Mcp-Param-* mirrors of a tool's x-mcp-header
// parameters. Pure: the caller supplies the headers; the answer is the refusal to send, if any.
#pragma once

#include "mcp/json_document.hpp"
#include "mcp/tools.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mcp_sidecar::mcp {

// A refused request: the HTTP status and the JSON-RPC error to answer with.
struct Refusal {
  unsigned status = 400;
  int code = 0;
  std::string message;  // never quotes argument values
  nlohmann::json data = nullptr;
};

// A request header's value, or nullopt when absent (names are case-insensitive).
using HeaderLookup = std::function<std::optional<std::string_view>(std::string_view name)>;

// The lookup over a request's headers: `fields` has for_each_value(name, visit), as the served
// request's flat fields do (http/fields.hpp), and must outlive it. A header sent on several lines
// reads as RFC 9110 5.3 combines them ("echo, forbidden"), not as its first line: the headers
// these checks read are single-valued, so a repeated one disagrees with the body whichever line a
// server behind would read.
template <class Fields>
HeaderLookup lookup_in(const Fields& fields) {
  std::shared_ptr<std::list<std::string>> combined;  // keeps the values it returned alive
  return [&fields, combined](std::string_view name) mutable -> std::optional<std::string_view> {
    std::optional<std::string_view> first;
    std::string* joined = nullptr;  // from the second line of that name on
    fields.for_each_value(name, [&](std::string_view value) {
      if (!first) {
        first = value;
        return;
      }
      if (!joined) {
        if (!combined) combined = std::make_shared<std::list<std::string>>();
        joined = &combined->emplace_back(*first);
      }
      joined->append(", ").append(value);
    });
    if (joined) return *joined;
    return first;
  };
}

// Checks a single JSON-RPC request `message` (already known to be a request object) against the
// revisions the server speaks (`supported`, newest first).
std::optional<Refusal> check_modern_request(const nlohmann::json& message, const HeaderLookup& header,
                                            const std::vector<std::string>& supported);
std::optional<Refusal> check_modern_request(JsonView message, const HeaderLookup& header,
                                            const std::vector<std::string>& supported);

// Checks the Mcp-Param-* headers of a tools/call against the tool's x-mcp-header parameters: a
// value in the arguments needs its header, equal after decoding (integers compared as numbers).
std::optional<Refusal> check_param_headers(const std::vector<HeaderParam>& params, const nlohmann::json& arguments,
                                           const HeaderLookup& header);

}  // namespace mcp_sidecar::mcp

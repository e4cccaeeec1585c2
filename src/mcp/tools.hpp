// What the sidecar needs to know about an upstream's tools, read from `tools/list` results:
// names (for 404 and metric labels), declared arguments (for case_id injection) and
// annotations (for safe retries). Pure.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mcp_sidecar::mcp {

// A tool parameter the 2026-07-28 transport mirrors into an `Mcp-Param-<header>` header.
struct HeaderParam {
  std::string header;             // the x-mcp-header value
  std::vector<std::string> path;  // property names from the arguments object down to it
};

struct ToolInfo {
  std::string name;
  std::vector<HeaderParam> header_params;
  std::vector<std::string> properties;  // top-level inputSchema.properties names
  bool read_only = false;               // annotations.readOnlyHint
  bool idempotent = false;              // annotations.idempotentHint

  bool declares(std::string_view property) const;
};

class ToolCatalog {
 public:
  // Adds one `tools/list` result page. Returns false if the page is malformed; `next_cursor` is
  // set to the page's nextCursor (empty when it was the last page). A tool whose x-mcp-header
  // annotations break the spec's rules is left out, as clients must, and named in rejected().
  bool add_page(const nlohmann::json& result, std::string& next_cursor);
  // "<tool>: <reason>" for every tool left out.
  const std::vector<std::string>& rejected() const { return rejected_; }
  // The caching hint of the last page (2026-07-28: ttlMs, cacheScope), if it had one.
  std::optional<long long> ttl_ms() const { return ttl_ms_; }
  bool private_scope() const { return private_scope_; }

  const ToolInfo* find(std::string_view name) const;
  const std::vector<ToolInfo>& tools() const { return tools_; }
  // The tool objects exactly as the upstream listed them.
  const nlohmann::json& listed() const { return listed_; }

 private:
  std::vector<ToolInfo> tools_;
  std::unordered_map<std::string, std::size_t> by_name_;
  nlohmann::json listed_ = nlohmann::json::array();
  std::vector<std::string> rejected_;
  std::optional<long long> ttl_ms_;
  bool private_scope_ = false;
};

// The x-mcp-header parameters of an input schema, or a reason the annotations are invalid.
struct HeaderParams {
  std::vector<HeaderParam> params;
  std::string invalid;  // empty when valid
};
HeaderParams header_params_of(const nlohmann::json& input_schema);

}  // namespace mcp_sidecar::mcp

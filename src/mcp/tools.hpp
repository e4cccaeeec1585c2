// What the sidecar needs to know about an upstream's tools, read from `tools/list` results:
// names (for 404 and metric labels), declared arguments (for case_id injection) and
// annotations (for safe retries). Pure.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mcp_sidecar::mcp {

struct ToolInfo {
  std::string name;
  std::vector<std::string> properties;  // top-level inputSchema.properties names
  bool read_only = false;               // annotations.readOnlyHint
  bool idempotent = false;              // annotations.idempotentHint

  bool declares(std::string_view property) const;
};

class ToolCatalog {
 public:
  // Adds one `tools/list` result page. Returns false if the page is malformed; `next_cursor` is
  // set to the page's nextCursor (empty when it was the last page).
  bool add_page(const nlohmann::json& result, std::string& next_cursor);

  const ToolInfo* find(std::string_view name) const;
  const std::vector<ToolInfo>& tools() const { return tools_; }
  // The tool objects exactly as the upstream listed them.
  const nlohmann::json& listed() const { return listed_; }

 private:
  std::vector<ToolInfo> tools_;
  std::unordered_map<std::string, std::size_t> by_name_;
  nlohmann::json listed_ = nlohmann::json::array();
};

}  // namespace mcp_sidecar::mcp

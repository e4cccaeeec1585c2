#include "mcp/tools.hpp"

#include <algorithm>

namespace mcp_sidecar::mcp {

bool ToolInfo::declares(std::string_view property) const {
  return std::find(properties.begin(), properties.end(), property) != properties.end();
}

bool ToolCatalog::add_page(const nlohmann::json& result, std::string& next_cursor) {
  next_cursor.clear();
  if (!result.is_object()) return false;
  auto tools = result.find("tools");
  if (tools == result.end() || !tools->is_array()) return false;
  for (const auto& t : *tools) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string()) return false;
    ToolInfo info;
    info.name = t["name"].get<std::string>();
    if (auto schema = t.find("inputSchema"); schema != t.end() && schema->is_object()) {
      if (auto props = schema->find("properties"); props != schema->end() && props->is_object())
        for (const auto& [key, _] : props->items()) info.properties.push_back(key);
    }
    if (auto ann = t.find("annotations"); ann != t.end() && ann->is_object()) {
      auto flag = [&](const char* key) {
        auto it = ann->find(key);
        return it != ann->end() && it->is_boolean() && it->get<bool>();
      };
      info.read_only = flag("readOnlyHint");
      info.idempotent = flag("idempotentHint");
    }
    if (by_name_.count(info.name)) continue;  // a duplicate listing keeps the first
    by_name_.emplace(info.name, tools_.size());
    tools_.push_back(std::move(info));
    listed_.push_back(t);
  }
  if (auto cursor = result.find("nextCursor"); cursor != result.end() && cursor->is_string())
    next_cursor = cursor->get<std::string>();
  return true;
}

const ToolInfo* ToolCatalog::find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : &tools_[it->second];
}

}  // namespace mcp_sidecar::mcp

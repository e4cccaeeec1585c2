#include "mcp/tools.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>

namespace mcp_sidecar::mcp {

bool ToolInfo::declares(std::string_view property) const {
  return std::find(properties.begin(), properties.end(), property) != properties.end();
}

namespace {

bool is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Walks a schema; `reachable` is true while every step from the root was a `properties` key.
void walk(const nlohmann::json& node, bool reachable, std::vector<std::string>& path, HeaderParams& out, int depth) {
  if (!out.invalid.empty() || depth > 64 || !node.is_object()) return;
  if (auto h = node.find("x-mcp-header"); h != node.end()) {
    if (!reachable || path.empty()) {
      out.invalid = "x-mcp-header on a property that is not reachable through `properties` only";
      return;
    }
    if (!h->is_string() || h->get<std::string>().empty()) {
      out.invalid = "x-mcp-header must be a non-empty string";
      return;
    }
    const std::string name = h->get<std::string>();
    for (char c : name)
      if (!is_tchar(c)) {
        out.invalid = "x-mcp-header '" + name + "' is not an HTTP field-name token";
        return;
      }
    auto type = node.find("type");
    if (type == node.end() || !type->is_string() || (*type != "string" && *type != "integer" && *type != "boolean")) {
      out.invalid = "x-mcp-header '" + name + "' is on a parameter that is not a string, integer or boolean";
      return;
    }
    for (const auto& p : out.params)
      if (lower(p.header) == lower(name)) {
        out.invalid = "x-mcp-header '" + name + "' is not unique";
        return;
      }
    out.params.push_back({name, path});
  }
  for (const auto& [key, child] : node.items()) {
    if (key == "properties" && child.is_object()) {
      for (const auto& [prop, sub] : child.items()) {
        path.push_back(prop);
        walk(sub, reachable, path, out, depth + 1);
        path.pop_back();
      }
    } else if (child.is_object()) {
      walk(child, false, path, out, depth + 1);
    } else if (child.is_array()) {
      for (const auto& item : child) walk(item, false, path, out, depth + 1);
    }
  }
}

}  // namespace

HeaderParams header_params_of(const nlohmann::json& input_schema) {
  HeaderParams out;
  std::vector<std::string> path;
  walk(input_schema, true, path, out, 0);
  if (!out.invalid.empty()) out.params.clear();
  return out;
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
      auto headers = header_params_of(*schema);
      if (!headers.invalid.empty()) {
        rejected_.push_back(info.name + ": " + headers.invalid);
        continue;
      }
      info.header_params = std::move(headers.params);
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
  if (auto ttl = result.find("ttlMs"); ttl != result.end() && ttl->is_number_integer() && ttl->get<long long>() >= 0)
    ttl_ms_ = ttl->get<long long>();
  if (auto scope = result.find("cacheScope"); scope != result.end() && *scope == "private") private_scope_ = true;
  return true;
}

const ToolInfo* ToolCatalog::find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : &tools_[it->second];
}

}  // namespace mcp_sidecar::mcp

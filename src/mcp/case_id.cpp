#include "mcp/case_id.hpp"

#include <algorithm>

namespace mcp_sidecar::mcp {

bool valid_case_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == ':' || c == '-';
  });
}

std::string generate_case_id(const std::function<std::uint64_t()>& random64) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "c-";
  std::uint64_t hi = random64();
  std::uint64_t lo = random64();
  for (int i = 15; i >= 0; --i) id.push_back(kHex[(hi >> (i * 4)) & 0xF]);
  for (int i = 7; i >= 0; --i) id.push_back(kHex[(lo >> (i * 4)) & 0xF]);
  return id;
}

Result<std::string> resolve_case_id(std::optional<std::string_view> header, const nlohmann::json& arguments,
                                    std::string_view argument, const std::function<std::uint64_t()>& random64) {
  return resolve_case_id(header, ValueView(arguments)[argument], argument, random64);
}

}  // namespace mcp_sidecar::mcp

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
  std::optional<std::string> from_argument;
  if (arguments.is_object()) {
    if (auto it = arguments.find(argument); it != arguments.end()) {
      if (!it->is_string())
        return make_error(ErrorCode::bad_case_id, "argument '" + std::string(argument) + "' must be a string");
      from_argument = it->get<std::string>();
    }
  }
  if (header) {
    if (!valid_case_id(*header))
      return make_error(ErrorCode::bad_case_id, "case id header must be 1-128 characters of [A-Za-z0-9._:-]");
    if (from_argument && *from_argument != *header)
      return make_error(ErrorCode::bad_case_id, "case id header and argument disagree");
    return std::string(*header);
  }
  if (from_argument) {
    if (!valid_case_id(*from_argument))
      return make_error(ErrorCode::bad_case_id,
                        "argument '" + std::string(argument) + "' must be 1-128 characters of [A-Za-z0-9._:-]");
    return *from_argument;
  }
  return generate_case_id(random64);
}

}  // namespace mcp_sidecar::mcp

// case_id resolution from a header and a JSON arguments object.
#include "mcp/case_id.hpp"
#include "mcp/json_parse.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto split = text.find('\n');
  std::string_view header = text.substr(0, split);
  std::string_view body = split == std::string_view::npos ? std::string_view{} : text.substr(split + 1);
  auto args = mcp_sidecar::mcp::parse_json(body).value_or(nlohmann::json::object());
  auto rnd = [] { return std::uint64_t{42}; };
  auto r = mcp_sidecar::mcp::resolve_case_id(header, args, "case_id", rnd);
  if (r && !mcp_sidecar::mcp::valid_case_id(r.value())) __builtin_trap();
  (void)mcp_sidecar::mcp::resolve_case_id(std::nullopt, args, "case_id", rnd);
  return 0;
}

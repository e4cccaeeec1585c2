// 2026-07-28 request validation: "Name: value" header lines, a blank line, then a JSON body.
#include "mcp/json_parse.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/modern.hpp"

#include <cstdint>
#include <map>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::string, std::less<>> headers;
  for (;;) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.empty() || nl == std::string_view::npos) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    headers[name] = std::string(line.substr(colon + 1));
  }
  const mcp_sidecar::mcp::HeaderLookup lookup = [&](std::string_view name) -> std::optional<std::string_view> {
    std::string lower(name);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto it = headers.find(lower);
    if (it == headers.end()) return std::nullopt;
    return it->second;
  };
  auto body = mcp_sidecar::mcp::parse_json(text);
  if (!body || mcp_sidecar::mcp::classify(*body) != mcp_sidecar::mcp::MessageKind::request) return 0;
  (void)mcp_sidecar::mcp::check_modern_request(*body, lookup, {"2026-07-28"});
  const auto& params = (*body).contains("params") ? (*body)["params"] : nlohmann::json();
  if (params.is_object() && params.contains("arguments")) {
    std::vector<mcp_sidecar::mcp::HeaderParam> hp = {{"A", {"a"}}, {"B", {"b", "c"}}};
    (void)mcp_sidecar::mcp::check_param_headers(hp, params["arguments"], lookup);
  }
  return 0;
}

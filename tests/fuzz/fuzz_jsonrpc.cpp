// Bounded JSON parsing and JSON-RPC classification of whatever a peer sends.
#include "mcp/json_parse.hpp"
#include "mcp/jsonrpc.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto value = mcp_sidecar::mcp::parse_json(text);
  if (!value) return 0;
  if (value->is_array()) {
    for (const auto& m : *value) (void)mcp_sidecar::mcp::classify(m);
  } else {
    (void)mcp_sidecar::mcp::classify(*value);
  }
  (void)value->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}

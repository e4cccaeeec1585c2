// tools/list result pages as an upstream might send them.
#include "mcp/json_parse.hpp"
#include "mcp/tools.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto value = mcp_sidecar::mcp::parse_json(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!value) return 0;
  mcp_sidecar::mcp::ToolCatalog catalog;
  std::string cursor;
  if (catalog.add_page(*value, cursor))
    for (const auto& t : catalog.tools()) (void)catalog.find(t.name);
  return 0;
}

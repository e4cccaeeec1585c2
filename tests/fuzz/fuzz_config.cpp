// The config loader on arbitrary YAML: errors, never crashes.
#include "config/config.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto no_env = [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
  auto r = mcp_sidecar::config::load(text, "fuzz.yaml", no_env);
  if (r.config) (void)mcp_sidecar::config::to_yaml(*r.config);
  return 0;
}

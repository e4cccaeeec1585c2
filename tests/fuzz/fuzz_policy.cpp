// Glob matching and policy decisions on arbitrary patterns and names: no crash, no blow-up.
#include "inbound/policy.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cut = text.find('\n');
  std::string_view pattern = text.substr(0, cut);
  std::string_view name = cut == std::string_view::npos ? std::string_view{} : text.substr(cut + 1);
  (void)mcp_sidecar::inbound::glob_match(pattern, name);
  mcp_sidecar::config::PolicyRule rule{{std::string(pattern)}, {std::string(name)}, {}, {}, 0};
  mcp_sidecar::inbound::Policy policy({rule}, true);
  (void)policy.allows(std::string(name), mcp_sidecar::inbound::Target::tool, std::string(pattern));
  return 0;
}

// `mcp-sidecar inject -f` on arbitrary text: errors, never crashes. What it writes reads back, and
// injecting it again gives the same text (twice is once).
#include "inject/manifests.hpp"
#include "inject/yaml.hpp"

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace mcp_sidecar::inject;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const Settings settings{"mcp-sidecar:0.1.0"};
  auto once = inject_manifests(text, settings);
  if (!once) return 0;
  auto docs = read_yaml(once->yaml);
  if (!docs) std::abort();  // what it wrote does not read back
  auto twice = inject_manifests(once->yaml, settings);
  if (!twice || twice->injected != 0 || twice->yaml != once->yaml) std::abort();  // twice is not once
  return 0;
}

// The bearer tokens file parser.
#include "inbound/tokens.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto tokens = mcp_sidecar::inbound::Tokens::parse(text, "fuzz");
  if (tokens) (void)tokens->match(text.substr(0, 32));
  return 0;
}

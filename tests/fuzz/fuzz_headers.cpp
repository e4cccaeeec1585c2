// The 2026-07-28 header value encoding: decoding arbitrary header bytes, and the round trip of
// arbitrary values (whatever is encoded must be a legal header value and decode to itself).
#include "mcp/headers.hpp"

#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)mcp_sidecar::mcp::decode_header_value(text);
  const std::string encoded = mcp_sidecar::mcp::encode_header_value(text);
  for (char c : encoded) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7E) __builtin_trap();  // would let a value break out of its header
  }
  if (mcp_sidecar::mcp::decode_header_value(encoded) != std::string(text)) __builtin_trap();
  return 0;
}

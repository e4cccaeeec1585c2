// SSE parser: arbitrary bytes, fed in arbitrary chunks, never crash or exceed the event limit.
#include "mcp/sse.hpp"

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t limit = 64 + data[0];
  mcp_sidecar::mcp::SseParser parser(limit);
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  std::size_t pos = 0;
  std::size_t step = 1 + (data[0] % 7);
  while (pos < input.size()) {
    auto chunk = input.substr(pos, step);
    pos += chunk.size();
    bool ok = parser.feed(chunk, [&](mcp_sidecar::mcp::SseEvent& ev) {
      if (ev.data.size() > limit) std::abort();
      return true;
    });
    if (!ok) break;
  }
  return 0;
}

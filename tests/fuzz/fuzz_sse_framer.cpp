// The gate's event splitter: whatever the chunking, the events it returns plus what it holds
// back are exactly the bytes fed in.
#include "mcp/sse_framer.hpp"

#include <cstdint>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view input(reinterpret_cast<const char*>(data + 1), size - 1);
  mcp_sidecar::mcp::SseFramer framer(1 << 20);
  std::vector<std::string> events;
  std::size_t step = 1 + data[0] % 13;
  for (std::size_t pos = 0; pos < input.size(); pos += step)
    if (!framer.feed(input.substr(pos, step), events)) return 0;
  std::string joined;
  for (const auto& e : events) {
    joined += e;
    (void)mcp_sidecar::mcp::event_data(e);
    (void)mcp_sidecar::mcp::rewrite_event(e, "{}");
  }
  joined += framer.take_rest();
  if (joined != input) std::abort();
  return 0;
}

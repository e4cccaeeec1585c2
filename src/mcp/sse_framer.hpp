// Splits an SSE byte stream into whole events without changing a byte, so a proxy can forward
// each event the moment its blank line arrives (comments and keepalives included) and rewrite
// only the events it must. Pure; one per stream.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcp_sidecar::mcp {

class SseFramer {
 public:
  explicit SseFramer(std::size_t max_event_bytes) : max_(max_event_bytes) {}

  // Appends `chunk`; returns the events it completed, each with its terminating blank line.
  // Fails (returns false) when one event grows past the limit.
  bool feed(std::string_view chunk, std::vector<std::string>& events);
  // Bytes of an incomplete event held back.
  std::size_t pending() const { return buf_.size(); }
  // What is left when the stream ends (an event without its blank line).
  std::string take_rest() {
    scan_ = line_start_ = 0;
    return std::exchange(buf_, {});
  }

 private:
  std::size_t max_;
  std::string buf_;
  std::size_t scan_ = 0;        // where to resume scanning
  std::size_t line_start_ = 0;  // where the current line starts
};

// The JSON text of an event's data (its data: lines joined), or empty if it has none.
std::string event_data(std::string_view raw_event);
// An event carrying `data` (one data: line per line), keeping the id: and event: lines of `raw`.
std::string rewrite_event(std::string_view raw_event, std::string_view data);
// The `message` event that carries one JSON-RPC message on an MCP stream.
std::string message_event(const nlohmann::json& message);

}  // namespace mcp_sidecar::mcp

// Incremental Server-Sent Events parser (WHATWG "event stream interpretation"), as MCP's
// Streamable HTTP and HTTP+SSE transports use it. Pure: bytes in, events out; fed chunk by chunk
// as they arrive, so nothing waits for the end of a stream. Not thread-safe (one per stream).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace mcp_sidecar::mcp {

struct SseEvent {
  std::string type = "message";  // the `event:` field, "message" by default
  std::string data;              // `data:` lines joined by '\n'
  std::string id;                // the last event id in effect when dispatched (may be empty)
};

class SseParser {
 public:
  // `max_event_bytes` bounds one event (its data plus the current line); beyond it, feed fails.
  explicit SseParser(std::size_t max_event_bytes) : max_event_bytes_(max_event_bytes) {}

  // Consumes `chunk`, calling `on_event` for every complete event. Returns false (and stays
  // failed) when an event exceeds the limit. A callback returning false stops parsing early
  // (the rest of the chunk is kept for the next call).
  bool feed(std::string_view chunk, const std::function<bool(SseEvent&)>& on_event);

  // The last `id:` seen (for Last-Event-ID on resumption), and the last `retry:` in ms.
  const std::string& last_event_id() const { return last_event_id_; }
  std::optional<long> retry_ms() const { return retry_ms_; }
  bool failed() const { return failed_; }
  // True between events: no partial line or event pending.
  bool idle() const { return line_.empty() && data_.empty() && !has_data_ && !saw_cr_; }

 private:
  // Returns false if dispatch asked to stop.
  bool process_line(std::string_view line, const std::function<bool(SseEvent&)>& on_event);

  std::size_t max_event_bytes_;
  std::string line_;  // the current incomplete line
  std::string data_;  // data buffer of the event being built
  std::string type_;  // event type buffer
  bool has_data_ = false;
  bool saw_cr_ = false;  // last byte was CR: a following LF belongs to the same line end
  bool bom_checked_ = false;
  bool failed_ = false;
  std::string last_event_id_;
  std::optional<long> retry_ms_;
  std::string pending_;  // unconsumed input after a callback stopped parsing
};

}  // namespace mcp_sidecar::mcp

#include "mcp/sse.hpp"

#include <charconv>

namespace mcp_sidecar::mcp {

bool SseParser::feed(std::string_view chunk, const std::function<bool(SseEvent&)>& on_event) {
  if (failed_) return false;
  std::string joined;
  if (!pending_.empty()) {
    joined = std::move(pending_);
    pending_.clear();
    joined.append(chunk);
    chunk = joined;
  }
  if (!bom_checked_ && !chunk.empty()) {
    // A leading UTF-8 BOM is ignored; we may need three bytes to decide.
    constexpr std::string_view kBom = "\xEF\xBB\xBF";
    if (chunk.size() < kBom.size() && kBom.substr(0, chunk.size()) == chunk) {
      pending_.assign(chunk);
      return true;
    }
    bom_checked_ = true;
    if (chunk.substr(0, kBom.size()) == kBom) chunk.remove_prefix(kBom.size());
  }
  std::size_t i = 0;
  while (i < chunk.size()) {
    char c = chunk[i];
    if (saw_cr_) {
      saw_cr_ = false;
      if (c == '\n') {  // CRLF: the line already ended at CR
        ++i;
        continue;
      }
    }
    if (c == '\r' || c == '\n') {
      saw_cr_ = (c == '\r');
      ++i;
      std::string line = std::move(line_);
      line_.clear();
      if (!process_line(line, on_event)) {
        pending_.assign(chunk.substr(i));
        return !failed_;
      }
      continue;
    }
    // Copy the run of ordinary bytes up to the next line end in one go.
    std::size_t end = chunk.find_first_of("\r\n", i);
    if (end == std::string_view::npos) end = chunk.size();
    line_.append(chunk.substr(i, end - i));
    if (line_.size() + data_.size() > max_event_bytes_) {
      failed_ = true;
      return false;
    }
    i = end;
  }
  return true;
}

bool SseParser::process_line(std::string_view line, const std::function<bool(SseEvent&)>& on_event) {
  if (line.empty()) {  // blank line: dispatch
    if (!has_data_) {
      type_.clear();
      return true;
    }
    SseEvent ev;
    ev.type = type_.empty() ? "message" : std::move(type_);
    ev.data = std::move(data_);
    ev.id = last_event_id_;
    data_.clear();
    type_.clear();
    has_data_ = false;
    return on_event(ev);
  }
  if (line.front() == ':') return true;  // comment (keepalive)
  std::string_view field = line;
  std::string_view value;
  if (auto colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
    if (data_.size() > max_event_bytes_) {
      failed_ = true;
      return false;
    }
  } else if (field == "event") {
    type_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_event_id_.assign(value);
  } else if (field == "retry") {
    long ms = 0;
    auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
    if (ec == std::errc() && p == value.data() + value.size() && !value.empty() && ms >= 0) retry_ms_ = ms;
  }
  return true;  // unknown fields are ignored
}

}  // namespace mcp_sidecar::mcp

#include "mcp/sse_framer.hpp"

#include "core/json_write.hpp"

#include <utility>

namespace mcp_sidecar::mcp {

namespace {
// Calls f(line) for each line of `raw` (LF, CRLF or CR endings), without the line end.
template <class F>
void for_each_line(std::string_view raw, F&& f) {
  std::size_t i = 0;
  while (i < raw.size()) {
    std::size_t end = raw.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      f(raw.substr(i));
      return;
    }
    f(raw.substr(i, end - i));
    i = end + 1;
    if (raw[end] == '\r' && i < raw.size() && raw[i] == '\n') ++i;
  }
}

std::string_view field_value(std::string_view line, std::string_view field) {
  if (line.substr(0, field.size()) != field) return {};
  auto rest = line.substr(field.size());
  if (rest.empty()) return rest;
  if (rest.front() != ':') return {};
  rest.remove_prefix(1);
  if (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  return rest;
}
}  // namespace

bool SseFramer::feed(std::string_view chunk, std::vector<std::string>& events) {
  buf_.append(chunk);
  std::size_t i = scan_;
  while (i < buf_.size()) {
    const char c = buf_[i];
    if (c != '\r' && c != '\n') {
      ++i;
      continue;
    }
    std::size_t after = i + 1;
    if (c == '\r') {
      if (after == buf_.size()) break;  // CR last: wait to see whether LF follows
      if (buf_[after] == '\n') ++after;
    }
    if (i == line_start_) {  // an empty line: the event ends here
      events.push_back(buf_.substr(0, after));
      buf_.erase(0, after);
      i = 0;
      line_start_ = 0;
      continue;
    }
    line_start_ = after;
    i = after;
  }
  scan_ = i;
  return buf_.size() <= max_;
}

std::string event_data(std::string_view raw) {
  std::string data;
  bool any = false;
  for_each_line(raw, [&](std::string_view line) {
    if (line.substr(0, 4) != "data") return;
    if (line.size() > 4 && line[4] != ':') return;
    if (any) data.push_back('\n');
    data.append(field_value(line, "data"));
    any = true;
  });
  return data;
}

std::string rewrite_event(std::string_view raw, std::string_view data) {
  std::string out;
  for_each_line(raw, [&](std::string_view line) {
    if (line.substr(0, 2) == "id" || line.substr(0, 5) == "event" || line.substr(0, 5) == "retry") {
      out.append(line);
      out.push_back('\n');
    }
  });
  for_each_line(data, [&](std::string_view line) {
    out.append("data: ");
    out.append(line);
    out.push_back('\n');
  });
  if (data.empty()) out.append("data: \n");
  out.push_back('\n');
  return out;
}

std::string message_event(const nlohmann::json& message) {
  std::string text = "event: message\ndata: ";
  append_json(text, message);
  text += "\n\n";
  return text;
}

}  // namespace mcp_sidecar::mcp

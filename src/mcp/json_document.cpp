// JsonDocument::parse is in json_parse.cpp, beside the parser it shares with parse_json.
#include "mcp/json_document.hpp"

#include <cstring>

namespace mcp_sidecar::mcp {

std::string_view JsonView::str() const { return is_string() ? doc_->string_of(node()) : std::string_view(); }

std::string_view JsonView::text() const {
  if (absent()) return {};
  const auto& n = node();
  return std::string_view(doc_->text_).substr(n.begin, n.end - n.begin);
}

nlohmann::json JsonView::value() const {
  if (absent()) return nullptr;
  // Checked as parse_json checks it when the document was read: this parse cannot fail.
  auto parsed = parse_json(text(), doc_->max_depth_);
  return parsed ? std::move(*parsed) : nlohmann::json();
}

JsonView JsonView::operator[](std::string_view key) const {
  if (!is_object()) return {};
  const auto& nodes = doc_->nodes_;
  std::uint32_t found = 0;
  for (std::uint32_t i = index_ + 1, end = nodes[index_].next; i < end; i = nodes[i + 1].next) {
    if (nodes[i].string_size != key.size()) continue;
    const std::string_view name = doc_->string_of(nodes[i]);
    if (key.empty() || (name[0] == key[0] && std::memcmp(name.data(), key.data(), key.size()) == 0)) {
      found = i + 1;
      if (doc_->unique_keys_) break;  // else the last one wins: read on
    }
  }
  return found == 0 ? JsonView() : JsonView(doc_, found);
}

bool text_has_member(std::string_view object, std::string_view key) {
  const auto document = JsonDocument::parse(std::string(object));
  return document && document->root().contains(key);
}

std::size_t JsonView::size() const {
  std::size_t n = 0;
  if (is_object())
    for_each_member([&n](std::string_view, JsonView) { ++n; });
  else
    for_each_element([&n](JsonView) { ++n; });
  return n;
}

}  // namespace mcp_sidecar::mcp

// Differential: parse_json against nlohmann's own parser plus the depth rule it replaced. Both must
// accept and reject the same inputs and build the same values, down to the type of every node
// (nlohmann's operator== finds 1u, 1 and 1.0 equal, so it cannot be the judge). And what the
// parser built is written by append_json exactly as nlohmann's dump() writes it. And
// parse_tool_response, which keeps what a tool returned as text, accepts what parse_json accepts,
// with the same value once that text is parsed in its place. And parse_json's report of repeated
// keys matches what nlohmann's parser tells through its callback (an object that ends with fewer
// members than the keys read into it), the way the gate used to find them. And JsonDocument
// accepts what parse_json accepts, tells repeated keys as it does, and reads every value in place
// as parse_json built it: type, string, members (the last of a repeated key), elements, value(),
// and the JSON-RPC kind classify finds.
#include "core/json_write.hpp"
#include "mcp/json_document.hpp"
#include "mcp/json_parse.hpp"
#include "mcp/jsonrpc.hpp"
#include "support/json_text.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace {

using nlohmann::json;

bool same(const json& a, const json& b) {
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (!a.is_structured()) return a.dump() == b.dump();  // the dump tells -0.0 from 0.0
  for (auto i = a.begin(), j = b.begin(); i != a.end(); ++i, ++j) {
    if ((a.is_object() && i.key() != j.key()) || !same(*i, *j)) return false;
  }
  return true;
}

// Whether an object in `text` repeats a key, by nlohmann's callback parser.
bool nlohmann_duplicates(std::string_view text) {
  bool duplicates = false;
  std::vector<std::size_t> keys;  // keys read so far, per open object
  auto count = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) {
      keys.push_back(0);
    } else if (event == json::parse_event_t::key) {
      ++keys.back();
    } else if (event == json::parse_event_t::object_end) {
      if (parsed.size() < keys.back()) duplicates = true;
      keys.pop_back();
    }
    return true;
  };
  (void)json::parse(text.begin(), text.end(), count, false);
  return duplicates;
}

void check_tool_response(std::string_view text) {
  auto kept = mcp_sidecar::mcp::parse_tool_response(text);
  auto built = mcp_sidecar::mcp::parse_json(text);
  if (kept.has_value() != built.has_value()) __builtin_trap();
  if (kept && !same(mcp_sidecar::test_support::expand_json_text(*kept), *built)) __builtin_trap();
}

// The view reads as the value parse_json built.
void check_view(mcp_sidecar::mcp::JsonView view, const json& value) {
  if (view.type() != value.type() || !same(view.value(), value)) __builtin_trap();
  if (mcp_sidecar::mcp::classify(view) != mcp_sidecar::mcp::classify(value)) __builtin_trap();
  if (value.is_string() && view.str() != value.get_ref<const std::string&>()) __builtin_trap();
  if (value.is_object()) {
    std::size_t members = 0;
    view.for_each_member([&](std::string_view key, mcp_sidecar::mcp::JsonView) {
      ++members;
      if (!value.contains(key)) __builtin_trap();
    });
    if (members < value.size()) __builtin_trap();
    for (const auto& [key, member] : value.items()) check_view(view[key], member);
  } else if (value.is_array()) {
    std::size_t i = 0;
    view.for_each_element([&](mcp_sidecar::mcp::JsonView element) {
      if (i >= value.size()) __builtin_trap();
      check_view(element, value[i++]);
    });
    if (i != value.size()) __builtin_trap();
  }
}

void check_document(std::string_view text, const std::optional<json>& built, bool duplicates) {
  bool doc_duplicates = false;
  auto doc = mcp_sidecar::mcp::JsonDocument::parse(std::string(text), &doc_duplicates);
  if (doc.has_value() != built.has_value()) __builtin_trap();
  if (!doc) return;
  if (doc_duplicates != duplicates) __builtin_trap();
  check_view(doc->root(), *built);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  bool duplicates = false;
  auto mine = mcp_sidecar::mcp::parse_json(text, duplicates);
  // Too deep is refused before nlohmann sees it, as parse_json used to do.
  json theirs(json::value_t::discarded);
  if (mcp_sidecar::mcp::json_depth_within(text)) theirs = json::parse(text.begin(), text.end(), nullptr, false);
  if (mine.has_value() == theirs.is_discarded()) __builtin_trap();
  if (mine && (!same(*mine, theirs) || mine->dump() != theirs.dump())) __builtin_trap();
  if (mine && mcp_sidecar::dump_json(*mine) != theirs.dump()) __builtin_trap();
  if (mine && duplicates != nlohmann_duplicates(text)) __builtin_trap();
  check_document(text, mine, duplicates);
  check_tool_response(text);
  check_tool_response(R"({"id":1,"result":{"content":)" + std::string(text) + "}}");
  return 0;
}

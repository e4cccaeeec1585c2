// Differential: parse_json against nlohmann's own parser plus the depth rule it replaced. Both must
// accept and reject the same inputs and build the same values, down to the type of every node
// (nlohmann's operator== finds 1u, 1 and 1.0 equal, so it cannot be the judge). And what the
// parser built is written by append_json exactly as nlohmann's dump() writes it.
#include "core/json_write.hpp"
#include "mcp/json_parse.hpp"

#include <cstdint>

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto mine = mcp_sidecar::mcp::parse_json(text);
  // Too deep is refused before nlohmann sees it, as parse_json used to do.
  json theirs(json::value_t::discarded);
  if (mcp_sidecar::mcp::json_depth_within(text)) theirs = json::parse(text.begin(), text.end(), nullptr, false);
  if (mine.has_value() == theirs.is_discarded()) __builtin_trap();
  if (mine && (!same(*mine, theirs) || mine->dump() != theirs.dump())) __builtin_trap();
  if (mine && mcp_sidecar::dump_json(*mine) != theirs.dump()) __builtin_trap();
  return 0;
}

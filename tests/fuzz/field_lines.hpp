// What the HTTP fuzzers compare between the sidecar's flat parsers and Beast's own.
#pragma once

#include <boost/beast/http/field.hpp>

#include <cctype>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace fuzz {

inline void require(bool ok) {
  if (!ok) std::abort();
}

// The field lines by name (lower case): each line's name as sent and its value, in order.
template <class Fields>
std::map<std::string, std::vector<std::pair<std::string, std::string>>> lines(const Fields& fields) {
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> out;
  for (const auto& f : fields) {
    std::string key(f.name_string());
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out[key].emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  return out;
}

// The same lines for every name, in the order they came, and the same lookups. Only the order
// across names may differ: Beast's list keeps the lines of one name together, the flat fields
// keep them as sent.
template <class Theirs, class Ours>
void same_fields(const Theirs& theirs, const Ours& ours) {
  require(lines(theirs) == lines(ours));
  for (const auto& f : ours) {
    require(f.name() == boost::beast::http::string_to_field(f.name_string()));
    require(ours[f.name_string()] == theirs[f.name_string()] &&
            ours.count(f.name_string()) == theirs.count(f.name_string()));
  }
}

}  // namespace fuzz

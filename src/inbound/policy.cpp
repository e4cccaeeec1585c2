#include "inbound/policy.hpp"

#include <algorithm>

namespace mcp_sidecar::inbound {

bool glob_match(std::string_view pattern, std::string_view text) {
  std::size_t p = 0, t = 0;
  std::size_t star = std::string_view::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      resume = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

namespace {
bool any_match(const std::vector<std::string>& patterns, std::string_view text) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& g) { return glob_match(g, text); });
}
}  // namespace

int Policy::deciding_rule(std::string_view caller) const {
  for (std::size_t i = 0; i < rules_.size(); ++i)
    if (any_match(rules_[i].callers, caller)) return static_cast<int>(i);
  return -1;
}

bool Policy::allows(std::string_view caller, Target target, std::string_view name) const {
  if (!set_) return true;
  int i = deciding_rule(caller);
  if (i < 0) return false;
  const auto& rule = rules_[static_cast<std::size_t>(i)];
  switch (target) {
    case Target::tool:
      return any_match(rule.tools, name);
    case Target::prompt:
      return any_match(rule.prompts, name);
    case Target::resource:
      return any_match(rule.resources, name);
  }
  return false;
}

}  // namespace mcp_sidecar::inbound

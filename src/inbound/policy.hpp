// Per-caller, per-tool authorization for the inbound gate: the first rule whose callers match
// the caller decides; no matching rule, or a rule that does not list the name, is a deny.
// Pure, immutable once built (a reload builds a new one); thread-safe.
#pragma once

#include "config/config.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace mcp_sidecar::inbound {

// `*` matches any run of characters (including none), `?` one character; everything else
// matches itself. Iterative: no recursion, linear in practice.
bool glob_match(std::string_view pattern, std::string_view text);

enum class Target { tool, prompt, resource };

class Policy {
 public:
  // `set` false: no policy configured, every authenticated caller may call everything.
  Policy(std::vector<config::PolicyRule> rules, bool set) : rules_(std::move(rules)), set_(set) {}

  bool allows(std::string_view caller, Target target, std::string_view name) const;
  // The rule that decides for a caller (its line in the file), or -1.
  int deciding_rule(std::string_view caller) const;
  bool configured() const { return set_; }

 private:
  std::vector<config::PolicyRule> rules_;
  bool set_;
};

}  // namespace mcp_sidecar::inbound

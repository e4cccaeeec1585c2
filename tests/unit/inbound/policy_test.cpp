#include "inbound/policy.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar::inbound {
namespace {

TEST(Glob, Matches) {
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*", "anything"));
  EXPECT_TRUE(glob_match("get_*", "get_filings"));
  EXPECT_FALSE(glob_match("get_*", "lookup_company"));
  EXPECT_TRUE(glob_match("spiffe://kyc.local/ns/kyc/sa/*", "spiffe://kyc.local/ns/kyc/sa/orchestrator"));
  EXPECT_FALSE(glob_match("spiffe://kyc.local/ns/kyc/sa/*", "spiffe://evil.local/ns/kyc/sa/orchestrator"));
  EXPECT_TRUE(glob_match("a?c", "abc"));
  EXPECT_FALSE(glob_match("a?c", "ac"));
  EXPECT_TRUE(glob_match("*a*b*", "xxaxxbxx"));
  EXPECT_FALSE(glob_match("*a*b*", "xxbxxaxx"));
  EXPECT_TRUE(glob_match("exact", "exact"));
  EXPECT_FALSE(glob_match("exact", "exactly"));
}

TEST(Glob, PathologicalPatternsStayFast) {
  std::string text(5000, 'a');
  std::string pattern;
  for (int i = 0; i < 50; ++i) pattern += "*a";
  pattern += "b";
  EXPECT_FALSE(glob_match(pattern, text));
}

config::PolicyRule rule(std::vector<std::string> callers, std::vector<std::string> tools,
                        std::vector<std::string> prompts = {}, std::vector<std::string> resources = {}) {
  return {std::move(callers), std::move(tools), std::move(prompts), std::move(resources), 0};
}

TEST(Policy, FirstMatchingRuleDecides) {
  Policy p({rule({"spiffe://kyc.local/ns/kyc/sa/orchestrator"}, {"*"}),
            rule({"bearer:auditor", "spiffe://kyc.local/ns/kyc/sa/auditor"}, {"get_*"}), rule({"*"}, {"ping"})},
           true);
  EXPECT_TRUE(p.allows("spiffe://kyc.local/ns/kyc/sa/orchestrator", Target::tool, "lookup_company"));
  EXPECT_TRUE(p.allows("bearer:auditor", Target::tool, "get_filings"));
  EXPECT_FALSE(p.allows("bearer:auditor", Target::tool, "lookup_company"));
  // The auditor's rule decides: the catch-all's ping does not apply to it.
  EXPECT_FALSE(p.allows("bearer:auditor", Target::tool, "ping"));
  EXPECT_TRUE(p.allows("bearer:someone", Target::tool, "ping"));
  EXPECT_FALSE(p.allows("bearer:someone", Target::tool, "get_filings"));
}

TEST(Policy, NoMatchIsDeny) {
  Policy p({rule({"bearer:orchestrator"}, {"*"})}, true);
  EXPECT_FALSE(p.allows("anonymous", Target::tool, "ping"));
  EXPECT_EQ(p.deciding_rule("anonymous"), -1);
}

TEST(Policy, PromptsAndResourcesOnlyWhereARuleSaysSo) {
  Policy p({rule({"*"}, {"*"}, {"summary_*"}, {"kyc://cases/*"})}, true);
  EXPECT_TRUE(p.allows("x", Target::prompt, "summary_case"));
  EXPECT_FALSE(p.allows("x", Target::prompt, "other"));
  EXPECT_TRUE(p.allows("x", Target::resource, "kyc://cases/1"));
  EXPECT_FALSE(p.allows("x", Target::resource, "file:///etc/passwd"));
  Policy tools_only({rule({"*"}, {"*"})}, true);
  EXPECT_FALSE(tools_only.allows("x", Target::prompt, "anything"));
}

TEST(Policy, WithoutAPolicyEverythingIsAllowed) {
  Policy p({}, false);
  EXPECT_TRUE(p.allows("anonymous", Target::tool, "anything"));
  EXPECT_FALSE(p.configured());
}

}  // namespace
}  // namespace mcp_sidecar::inbound

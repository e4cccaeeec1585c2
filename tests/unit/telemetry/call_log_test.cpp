#include "telemetry/call_log.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar {
namespace {

CallRecord rec(std::string case_id, std::string tool) {
  CallRecord r;
  r.case_id = std::move(case_id);
  r.tool = std::move(tool);
  r.outcome = "ok";
  return r;
}

TEST(CallLog, ReturnsTheCallsOfOneCaseOldestFirst) {
  CallLog log(8);
  log.add(rec("a", "t1"));
  log.add(rec("b", "t2"));
  log.add(rec("a", "t3"));
  auto calls = log.by_case("a");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].tool, "t1");
  EXPECT_EQ(calls[1].tool, "t3");
  EXPECT_TRUE(log.by_case("zzz").empty());
}

TEST(CallLog, IsBoundedAndForgetsTheOldest) {
  CallLog log(4);
  for (int i = 0; i < 10; ++i) log.add(rec("a", "t" + std::to_string(i)));
  auto calls = log.by_case("a");
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls.front().tool, "t6");
  EXPECT_EQ(calls.back().tool, "t9");
}

TEST(CallLog, JsonCarriesNoArguments) {
  auto j = to_json(rec("a", "lookup_company"));
  EXPECT_EQ(j["case_id"], "a");
  EXPECT_FALSE(j.contains("arguments"));
}

}  // namespace
}  // namespace mcp_sidecar

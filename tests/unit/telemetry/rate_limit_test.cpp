#include "telemetry/log.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar::log {
namespace {

TEST(RateLimited, FirstLineThenOnePerIntervalPerKey) {
  init("error");  // keep the test output quiet; counting does not depend on the level
  RateLimited limiter(std::chrono::seconds(10));
  auto t0 = RateLimited::Clock::time_point{} + std::chrono::hours(1);
  EXPECT_TRUE(limiter.warn("down:a", "upstream_down", {}, t0));
  EXPECT_FALSE(limiter.warn("down:a", "upstream_down", {}, t0 + std::chrono::seconds(1)));
  EXPECT_FALSE(limiter.warn("down:a", "upstream_down", {}, t0 + std::chrono::seconds(9)));
  EXPECT_TRUE(limiter.warn("down:b", "upstream_down", {}, t0 + std::chrono::seconds(9)));  // other key
  EXPECT_TRUE(limiter.warn("down:a", "upstream_down", {}, t0 + std::chrono::seconds(10)));
  EXPECT_EQ(limiter.suppressed_total(), 2u);
}

}  // namespace
}  // namespace mcp_sidecar::log

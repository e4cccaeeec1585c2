#include "outbound/session_pool.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar::outbound {
namespace {

TEST(Backoff, FullJitterIsUniformUpToTheExponentialCap) {
  config::RetryConfig r{10, milliseconds(100), milliseconds(5000)};
  EXPECT_EQ(backoff_delay(1, r, 0.0), milliseconds(0));
  EXPECT_EQ(backoff_delay(1, r, 0.5), milliseconds(50));
  EXPECT_EQ(backoff_delay(2, r, 0.5), milliseconds(100));
  EXPECT_EQ(backoff_delay(3, r, 0.5), milliseconds(200));
  EXPECT_EQ(backoff_delay(4, r, 0.999), milliseconds(799));
}

TEST(Backoff, CappedAtMaxDelay) {
  config::RetryConfig r{100, milliseconds(100), milliseconds(5000)};
  EXPECT_EQ(backoff_delay(7, r, 0.5), milliseconds(2500));   // 6400 capped to 5000
  EXPECT_EQ(backoff_delay(60, r, 1.0), milliseconds(5000));  // no overflow far out
  EXPECT_EQ(backoff_delay(1000, r, 0.5), milliseconds(2500));
}

}  // namespace
}  // namespace mcp_sidecar::outbound

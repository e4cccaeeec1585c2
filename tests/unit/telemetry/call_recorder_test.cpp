#include "telemetry/call_recorder.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace mcp_sidecar {
namespace {

// A call ended before its answer is written is recorded when its recorder goes, with the
// outcome and the duration it had when it ended.
TEST(CallRecorder, AnEndedCallIsRecordedWhenItsRecorderGoes) {
  using Clock = std::chrono::steady_clock;
  Metrics metrics("test");
  CallLog calls(8);
  const auto before = Clock::now();
  Clock::duration until_ended{};
  {
    CallRecorder rec(metrics, calls, "outbound", "kyc", "tools/call", "check_name", "case-1");
    rec.start();
    rec.end("tool_error");
    until_ended = Clock::now() - before;  // the most the recorded duration may be
    // Time passes after the end (whatever the machine's load): it is not the call's.
    const auto ended = Clock::now();
    while (Clock::now() - ended < std::chrono::milliseconds(20)) std::this_thread::yield();
    rec.end("ok");  // only the first end counts
    EXPECT_TRUE(calls.by_case("case-1").empty());
  }
  auto recorded = calls.by_case("case-1");
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(recorded[0].outcome, "tool_error");
  using Millis = std::chrono::duration<double, std::milli>;
  EXPECT_LE(recorded[0].duration_ms, Millis(until_ended).count());
}

TEST(CallRecorder, FinishRecordsAtOnceAndOnlyOnce) {
  Metrics metrics("test");
  CallLog calls(8);
  {
    CallRecorder rec(metrics, calls, "inbound", "kyc", "tools/call", "check_name", "case-2");
    rec.finish("rejected", "forbidden");
    ASSERT_EQ(calls.by_case("case-2").size(), 1u);
    rec.finish("ok");
    rec.end("ok");
  }
  auto recorded = calls.by_case("case-2");
  ASSERT_EQ(recorded.size(), 1u);
  EXPECT_EQ(recorded[0].outcome, "rejected");
  EXPECT_EQ(recorded[0].error, "forbidden");
}

// A call that never ended (its coroutine dropped at shutdown) is not recorded as anything.
TEST(CallRecorder, ACallThatNeverEndedIsNotRecorded) {
  Metrics metrics("test");
  CallLog calls(8);
  { CallRecorder rec(metrics, calls, "outbound", "kyc", "tools/call", "check_name", "case-3"); }
  EXPECT_TRUE(calls.by_case("case-3").empty());
}

}  // namespace
}  // namespace mcp_sidecar

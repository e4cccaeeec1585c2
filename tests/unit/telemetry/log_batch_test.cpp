#include "telemetry/log.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mcp_sidecar::log {
namespace {

int count(const std::string& text, std::string_view what) {
  int n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(LogLine, DurationsAreMillisecondsToTheMicrosecond) {
  init("info");
  using std::chrono::microseconds, std::chrono::nanoseconds, std::chrono::seconds;
  testing::internal::CaptureStderr();
  Line(Level::info, "durations")
      .millis("slow", seconds(12) + microseconds(3))
      .millis("fast", nanoseconds(87'999))
      .millis("none", nanoseconds(0))
      .write();
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find(R"("slow":12000.003,"fast":0.087,"none":0.000)"), std::string::npos) << out;
  const auto line = nlohmann::json::parse(out);
  EXPECT_EQ(line["slow"].get<double>(), 12000.003);
  init("error");
}

TEST(LogLine, MembersOfOneLineGoIntoAnother) {
  init("info");
  Line first(Level::info, "call_start");
  first.str("case_id", "c-1").str("tool", "say \"hi\"");
  const std::string shared(first.members_so_far());
  EXPECT_EQ(shared, R"(,"case_id":"c-1","tool":"say \"hi\"")");
  testing::internal::CaptureStderr();
  Line(Level::info, "call_end").members(shared).str("outcome", "ok").write();
  const auto line = nlohmann::json::parse(testing::internal::GetCapturedStderr());
  EXPECT_EQ(line["event"], "call_end");
  EXPECT_EQ(line["case_id"], "c-1");
  EXPECT_EQ(line["tool"], "say \"hi\"");
  EXPECT_EQ(line["outcome"], "ok");
  init("error");
  EXPECT_EQ(Line(Level::info, "off").str("k", "v").members_so_far(), "");  // nothing built when off
}

TEST(LogBatch, LinesWaitForTheFlushTheFirstOneScheduled) {
  init("info");
  int scheduled = 0;
  batch_with([&] { ++scheduled; });
  testing::internal::CaptureStderr();
  Line(Level::info, "batched_one").str("k", "v").write();
  Line(Level::info, "batched_two").write();
  Line(Level::debug, "below_the_level").write();
  const std::string before = testing::internal::GetCapturedStderr();
  EXPECT_EQ(before, "");    // kept, not written
  EXPECT_EQ(scheduled, 1);  // one flush for the batch, not one per line

  testing::internal::CaptureStderr();
  flush();
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(out, "\n"), 2);  // two whole lines, each ending with a newline
  EXPECT_LT(out.find("\"event\":\"batched_one\",\"k\":\"v\"}\n"), out.find("\"event\":\"batched_two\""));
  EXPECT_EQ(count(out, "below_the_level"), 0);

  batch_with(nullptr);
  init("error");
}

TEST(LogBatch, AWarningIsWrittenAtOnceWithTheLinesKeptBeforeIt) {
  init("info");
  int scheduled = 0;
  batch_with([&] { ++scheduled; });
  testing::internal::CaptureStderr();
  Line(Level::info, "kept_first").write();
  Line(Level::warn, "the_warning").write();
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(out, "\n"), 2);
  EXPECT_LT(out.find("kept_first"), out.find("the_warning"));  // in the order they were made
  EXPECT_EQ(scheduled, 1);
  testing::internal::CaptureStderr();
  Line(Level::error, "an_error").write();  // into an empty batch: written, nothing scheduled
  const std::string error = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(error, "an_error"), 1);
  EXPECT_EQ(scheduled, 1);
  batch_with(nullptr);
  init("error");
}

TEST(LogBatch, TurningBatchingOffWritesWhatIsKeptAndThenEveryLineAtOnce) {
  init("info");
  batch_with([] {});
  testing::internal::CaptureStderr();
  Line(Level::info, "kept_line").write();
  batch_with(nullptr);
  Line(Level::info, "direct_line").write();
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(out, "kept_line"), 1);
  EXPECT_EQ(count(out, "direct_line"), 1);
  init("error");
}

TEST(LogBatch, ABigBatchIsWrittenWithoutWaitingForItsFlush) {
  init("info");
  int scheduled = 0;
  batch_with([&] { ++scheduled; });
  testing::internal::CaptureStderr();
  const std::string value(1000, 'x');
  for (int i = 0; i < 100; ++i) Line(Level::info, "big").str("v", value).write();  // ~100 KiB
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_GE(count(out, "\"event\":\"big\""), 60);  // the first 64 KiB went out on their own
  EXPECT_LT(count(out, "\"event\":\"big\""), 100);
  EXPECT_GE(scheduled, 1);
  testing::internal::CaptureStderr();
  batch_with(nullptr);
  const std::string rest = testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(out, "\"event\":\"big\"") + count(rest, "\"event\":\"big\""), 100);  // none lost
  init("error");
}

}  // namespace
}  // namespace mcp_sidecar::log

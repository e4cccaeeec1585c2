#include "mcp/sse.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace mcp_sidecar::mcp {
namespace {

std::vector<SseEvent> parse_all(SseParser& p, std::string_view input) {
  std::vector<SseEvent> out;
  EXPECT_TRUE(p.feed(input, [&](SseEvent& e) {
    out.push_back(e);
    return true;
  }));
  return out;
}

TEST(Sse, ParsesOneEvent) {
  SseParser p(1024);
  auto ev = parse_all(p, "event: message\ndata: {\"a\":1}\n\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, "message");
  EXPECT_EQ(ev[0].data, "{\"a\":1}");
}

TEST(Sse, JoinsMultipleDataLinesWithNewlines) {
  SseParser p(1024);
  auto ev = parse_all(p, "data: one\ndata:two\ndata:  three\n\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "one\ntwo\n three");
}

TEST(Sse, HandlesEveryLineEnding) {
  SseParser p(1024);
  auto ev = parse_all(p, "data: a\r\n\r\ndata: b\r\rdata: c\n\n");
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].data, "a");
  EXPECT_EQ(ev[1].data, "b");
  EXPECT_EQ(ev[2].data, "c");
}

TEST(Sse, CrLfSplitAcrossChunksIsOneLineEnd) {
  SseParser p(1024);
  std::vector<std::string> data;
  auto cb = [&](SseEvent& e) {
    data.push_back(e.data);
    return true;
  };
  ASSERT_TRUE(p.feed("data: x\r", cb));
  ASSERT_TRUE(p.feed("\n\r", cb));
  ASSERT_TRUE(p.feed("\n", cb));
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0], "x");
}

TEST(Sse, EventsArriveAsTheirBytesDoByteByByte) {
  SseParser p(1024);
  std::string input = "id: 7\nevent: message\ndata: {\"jsonrpc\":\"2.0\"}\n\n: keepalive\n\ndata: second\n\n";
  std::vector<SseEvent> events;
  for (char c : input)
    ASSERT_TRUE(p.feed(std::string_view(&c, 1), [&](SseEvent& e) {
      events.push_back(e);
      return true;
    }));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].id, "7");
  EXPECT_EQ(events[0].data, "{\"jsonrpc\":\"2.0\"}");
  EXPECT_EQ(events[1].data, "second");
  EXPECT_EQ(events[1].id, "7");  // the last event id stays in effect
}

TEST(Sse, CommentsAreIgnored) {
  SseParser p(1024);
  auto ev = parse_all(p, ": ping\n\n:another\n");
  EXPECT_TRUE(ev.empty());
  EXPECT_TRUE(p.idle());
}

TEST(Sse, PrimingEventWithIdAndEmptyDataSetsTheLastEventId) {
  SseParser p(1024);
  auto ev = parse_all(p, "id: prime-1\ndata:\n\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "");
  EXPECT_EQ(p.last_event_id(), "prime-1");
}

TEST(Sse, IdWithoutDataIsRememberedButNotDispatched) {
  SseParser p(1024);
  auto ev = parse_all(p, "id: 42\n\n");
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(p.last_event_id(), "42");
}

TEST(Sse, RetryFieldIsHonouredOnlyWhenNumeric) {
  SseParser p(1024);
  parse_all(p, "retry: 1500\n\nretry: soon\n\n");
  ASSERT_TRUE(p.retry_ms());
  EXPECT_EQ(*p.retry_ms(), 1500);
}

TEST(Sse, LeadingBomIsSkippedEvenWhenSplit) {
  SseParser p(1024);
  std::vector<std::string> data;
  auto cb = [&](SseEvent& e) {
    data.push_back(e.data);
    return true;
  };
  ASSERT_TRUE(p.feed("\xEF", cb));
  ASSERT_TRUE(
      p.feed("\xBB\xBF"
             "data: x\n\n",
             cb));
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0], "x");
}

TEST(Sse, FieldWithoutColonIsAFieldWithEmptyValue) {
  SseParser p(1024);
  auto ev = parse_all(p, "data\ndata\n\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].data, "\n");
}

TEST(Sse, OversizedEventFailsAndStaysFailed) {
  SseParser p(16);
  EXPECT_FALSE(p.feed("data: 0123456789abcdefghij\n\n", [](SseEvent&) { return true; }));
  EXPECT_TRUE(p.failed());
  EXPECT_FALSE(p.feed("data: x\n\n", [](SseEvent&) { return true; }));
}

TEST(Sse, ManyDataLinesCannotGrowPastTheLimit) {
  SseParser p(64);
  std::string input;
  for (int i = 0; i < 100; ++i) input += "data: 0123456789\n";
  EXPECT_FALSE(p.feed(input, [](SseEvent&) { return true; }));
}

TEST(Sse, CallbackCanStopAndParsingResumesWithTheRest) {
  SseParser p(1024);
  std::vector<std::string> data;
  ASSERT_TRUE(p.feed("data: 1\n\ndata: 2\n\n", [&](SseEvent& e) {
    data.push_back(e.data);
    return false;
  }));
  ASSERT_EQ(data.size(), 1u);
  ASSERT_TRUE(p.feed("", [&](SseEvent& e) {
    data.push_back(e.data);
    return true;
  }));
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(data[1], "2");
}

TEST(Sse, EventTypeIsKept) {
  SseParser p(1024);
  auto ev = parse_all(p, "event: endpoint\ndata: /messages?sessionId=1\n\n");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, "endpoint");
}

}  // namespace
}  // namespace mcp_sidecar::mcp

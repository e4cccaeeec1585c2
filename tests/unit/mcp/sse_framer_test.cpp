#include "mcp/sse_framer.hpp"

#include "mcp/sse.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar::mcp {
namespace {

TEST(SseFramer, SplitsWholeEventsWithoutChangingABit) {
  SseFramer f(1024);
  std::vector<std::string> ev;
  ASSERT_TRUE(f.feed(": keepalive\n\nid: 1\ndata: {\"a\":1}\n\nevent: message\r\ndata: x\r\n\r\n", ev));
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0], ": keepalive\n\n");
  EXPECT_EQ(ev[1], "id: 1\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(ev[2], "event: message\r\ndata: x\r\n\r\n");
  EXPECT_EQ(f.pending(), 0u);
}

TEST(SseFramer, EventsCompleteAcrossChunksByteByByte) {
  std::string stream = "id: 7\r\ndata: one\r\ndata: two\r\n\r\ndata: three\n\n";
  SseFramer f(1024);
  std::vector<std::string> ev;
  for (char c : stream) ASSERT_TRUE(f.feed(std::string_view(&c, 1), ev));
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0] + ev[1], stream);
}

TEST(SseFramer, ACarriageReturnAtTheEndWaitsForTheNextByte) {
  SseFramer f(1024);
  std::vector<std::string> ev;
  ASSERT_TRUE(f.feed("data: a\r\n\r", ev));
  EXPECT_TRUE(ev.empty());
  ASSERT_TRUE(f.feed("\n", ev));
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0], "data: a\r\n\r\n");
}

TEST(SseFramer, OversizedEventFails) {
  SseFramer f(16);
  std::vector<std::string> ev;
  EXPECT_FALSE(f.feed("data: 0123456789012345678901234567890", ev));
}

TEST(SseFramer, DataAndRewrite) {
  std::string raw = "id: 42\nevent: message\ndata: {\"x\":\ndata: 1}\n\n";
  EXPECT_EQ(event_data(raw), "{\"x\":\n1}");
  auto out = rewrite_event(raw, "{\"y\":2}");
  EXPECT_EQ(out, "id: 42\nevent: message\ndata: {\"y\":2}\n\n");
  // What a client parser reads from the rewritten event.
  SseParser p(1024);
  std::string data;
  p.feed(out, [&](SseEvent& e) {
    data = e.data;
    return true;
  });
  EXPECT_EQ(data, "{\"y\":2}");
  EXPECT_EQ(p.last_event_id(), "42");
}

TEST(SseFramer, MessageEventCarriesTheMessage) {
  const nlohmann::json message = {{"jsonrpc", "2.0"}, {"method", "notifications/progress"}, {"params", {{"p", 1}}}};
  const auto event = message_event(message);
  EXPECT_EQ(event, "event: message\ndata: " + message.dump() + "\n\n");
  EXPECT_EQ(event_data(event), message.dump());
}

}  // namespace
}  // namespace mcp_sidecar::mcp

#include "http/wire.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mcp_sidecar::http {
namespace {

namespace bhttp = boost::beast::http;

// WireMessage writes what a Beast message with the same fields, set in the same order, becomes
// after prepare_payload() (and keep_alive() for answers): the bytes on the wire do not change.
TEST(WireMessage, ARequestAsBeastWritesIt) {
  bhttp::request<bhttp::string_body> req{bhttp::verb::post, "/mcp?x=1", 11};
  req.set(bhttp::field::host, "registry:8080");
  req.set(bhttp::field::content_type, "application/json");
  req.set("Mcp-Session-Id", "abc");
  req.body() = R"({"jsonrpc":"2.0","id":1,"method":"ping"})";
  req.prepare_payload();

  auto wire = WireMessage::request("POST", "/mcp?x=1");
  wire.field("Host", "registry:8080").field("Content-Type", "application/json").field("Mcp-Session-Id", "abc");
  EXPECT_EQ(std::move(wire).finish(req.body()), serialize(req));
}

// Content-Length as prepare_payload() sets it: with a body, or for the methods whose empty
// content means something; a GET, HEAD or DELETE without a body has none.
TEST(WireMessage, ARequestIsFramedAsBeastFramesIt) {
  for (auto verb : {bhttp::verb::get, bhttp::verb::head, bhttp::verb::delete_, bhttp::verb::post, bhttp::verb::put,
                    bhttp::verb::options}) {
    for (std::string body : {"", "{}"}) {
      bhttp::request<bhttp::string_body> req{verb, "/mcp", 11};
      req.set(bhttp::field::host, "localhost");
      req.set("X-MCP-Client-Identity", "");
      req.body() = body;
      req.prepare_payload();
      auto wire = WireMessage::request(bhttp::to_string(verb), "/mcp");
      wire.field("Host", "localhost").field("X-MCP-Client-Identity", "");
      EXPECT_EQ(std::move(wire).finish_request(verb, body), serialize(req)) << bhttp::to_string(verb) << body;
    }
  }
}

TEST(WireMessage, AnswersAsBeastWritesThem) {
  struct Case {
    unsigned status;
    unsigned version;
    bool keep_alive;
    std::string body;
  };
  for (const Case& c : {Case{200, 11, true, R"({"ok":true})"}, Case{503, 11, false, "{}"}, Case{202, 11, true, ""},
                        Case{200, 10, true, "x"}, Case{404, 10, false, "{}"}, Case{204, 11, true, ""}}) {
    SCOPED_TRACE(std::to_string(c.status) + " HTTP/" + std::to_string(c.version));
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(c.status), c.version};
    res.set(bhttp::field::content_type, "application/json");
    res.set("X-Case-Id", "case-1");
    res.keep_alive(c.keep_alive);
    res.body() = c.body;
    res.prepare_payload();

    auto wire = WireMessage::response(c.status, c.version);
    wire.field("Content-Type", "application/json").field("X-Case-Id", "case-1");
    if (c.version == 10 && c.keep_alive) wire.field("Connection", "keep-alive");
    if (c.version == 11 && !c.keep_alive) wire.field("Connection", "close");
    EXPECT_EQ(std::move(wire).finish(c.body), serialize(res));
  }
}

TEST(WireMessage, AnAnswerToHeadHasTheLengthButNotTheBody) {
  auto wire = WireMessage::response(200, 11);
  wire.field("Content-Type", "application/json");
  EXPECT_EQ(std::move(wire).finish("{}", /*send_body=*/false),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n");
}

}  // namespace
}  // namespace mcp_sidecar::http

#include "mcp/jsonrpc.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar::mcp {
namespace {

TEST(JsonRpc, ClassifiesEachKind) {
  EXPECT_EQ(classify(json::parse(R"({"jsonrpc":"2.0","id":1,"method":"ping"})")), MessageKind::request);
  EXPECT_EQ(classify(json::parse(R"({"jsonrpc":"2.0","id":"a","method":"x","params":{}})")), MessageKind::request);
  EXPECT_EQ(classify(json::parse(R"({"jsonrpc":"2.0","method":"notifications/progress"})")), MessageKind::notification);
  EXPECT_EQ(classify(json::parse(R"({"jsonrpc":"2.0","id":1,"result":{}})")), MessageKind::result);
  EXPECT_EQ(classify(json::parse(R"({"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"x"}})")), MessageKind::error);
  EXPECT_EQ(classify(json::parse(R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}})")),
            MessageKind::error);
}

TEST(JsonRpc, RejectsMalformedMessages) {
  EXPECT_EQ(classify(json::parse(R"([])")), MessageKind::invalid);
  EXPECT_EQ(classify(json::parse(R"({"id":1,"method":"x"})")), MessageKind::invalid);
  EXPECT_EQ(classify(json::parse(R"({"jsonrpc":"1.0","id":1,"method":"x"})")), MessageKind::invalid);
  EXPECT_EQ(classify(json::parse(R"({"jsonrpc":"2.0","id":null,"method":"x"})")), MessageKind::invalid);
  EXPECT_EQ(classify(json::parse(R"({"jsonrpc":"2.0","id":1.5,"method":"x"})")), MessageKind::invalid);
  EXPECT_EQ(classify(json::parse(R"({"jsonrpc":"2.0","id":1,"method":7})")), MessageKind::invalid);
  EXPECT_EQ(classify(json::parse(R"({"jsonrpc":"2.0","id":1,"method":"x","params":"s"})")), MessageKind::invalid);
  EXPECT_EQ(classify(json::parse(R"({"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1}})")), MessageKind::invalid);
  EXPECT_EQ(classify(json::parse(R"({"jsonrpc":"2.0","id":1})")), MessageKind::invalid);
  EXPECT_EQ(classify(json::parse(R"({"jsonrpc":"2.0","id":1,"error":{"message":"no code"}})")), MessageKind::invalid);
}

TEST(JsonRpc, BuildsMessages) {
  auto req = make_request(3, "tools/call", {{"name", "ping"}});
  EXPECT_EQ(req.dump(), R"({"id":3,"jsonrpc":"2.0","method":"tools/call","params":{"name":"ping"}})");
  EXPECT_EQ(classify(req), MessageKind::request);
  auto note = make_notification("notifications/initialized", nullptr);
  EXPECT_FALSE(note.contains("params"));
  EXPECT_EQ(classify(note), MessageKind::notification);
  auto err = make_error(3, kMethodNotFound, "nope");
  EXPECT_EQ(err["error"]["code"], -32601);
  EXPECT_EQ(classify(err), MessageKind::error);
  EXPECT_EQ(classify(make_result("x", json::object())), MessageKind::result);
  EXPECT_EQ(make_result(7, {{"b", 1}, {"a", "\u00e9"}}).dump(), R"({"id":7,"jsonrpc":"2.0","result":{"a":"é","b":1}})");
  EXPECT_EQ(make_error(nullptr, kInvalidRequest, "bad", {{"why", "x"}}).dump(),
            R"({"error":{"code":-32600,"data":{"why":"x"},"message":"bad"},"id":null,"jsonrpc":"2.0"})");
}

// The text of a request is exactly what serializing the built message gives.
TEST(JsonRpc, RequestTextIsTheBuiltMessage) {
  const json params = {{"name", "lookup"}, {"arguments", {{"q", "a \"quoted\" \u00e9\n"}, {"n", {1, 2.5, nullptr}}}}};
  for (const json& id : {json(0), json(-12), json("id-\u00e9\"x\""), json(9007199254740993LL)})
    for (std::string_view method : {"tools/call", "ping", "odd \"method\"\\"})
      for (const json& p : {params, json::object(), json(), json::array({1})})
        EXPECT_EQ(request_text(id, method, p), make_request(id, method, p).dump()) << id << method << p;
}

}  // namespace
}  // namespace mcp_sidecar::mcp

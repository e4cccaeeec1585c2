#include "http/upstream_response.hpp"

#include <gtest/gtest.h>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace mcp_sidecar::http {
namespace {

namespace bhttp = boost::beast::http;

// Parses `wire` as the client reads an answer (head first, then the rest); the error is kept in
// `ec`. `eof`: the upstream closed the connection after these bytes.
UpstreamResponse parse(std::string_view wire, boost::system::error_code& ec, bool eof = false, bool head = false) {
  ResponseParser parser;
  parser.body_limit(1024);
  parser.skip(head);
  parser.eager(true);
  parser.put(boost::asio::buffer(wire.data(), wire.size()), ec);
  if (!ec && eof) parser.put_eof(ec);
  if (!ec && !parser.is_done()) ec = bhttp::error::need_more;
  return parser.release();
}

UpstreamResponse parse(std::string_view wire, bool eof = false, bool head = false) {
  boost::system::error_code ec;
  UpstreamResponse res = parse(wire, ec, eof, head);
  EXPECT_FALSE(ec) << ec.message();
  return res;
}

TEST(UpstreamResponse, StatusFieldsAndBodyAsSent) {
  const UpstreamResponse res = parse(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nMcp-Session-Id: s-1\r\nX-Seen: one\r\nx-seen: two\r\n"
      "Content-Length: 4\r\n\r\n{\"a\"");
  EXPECT_EQ(res.result(), bhttp::status::ok);
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.version(), 11u);
  EXPECT_TRUE(res.keep_alive());
  EXPECT_EQ(res.body(), "{\"a\"");

  std::vector<std::string> seen;
  for (const auto& f : res) seen.push_back(std::string(f.name_string()) + "=" + std::string(f.value()));
  EXPECT_EQ(seen, (std::vector<std::string>{"Content-Type=application/json", "Mcp-Session-Id=s-1", "X-Seen=one",
                                            "x-seen=two", "Content-Length=4"}));
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
  EXPECT_EQ(res["mcp-session-id"], "s-1");
  EXPECT_EQ(res["X-SEEN"], "one");
  EXPECT_EQ(res.count("x-seen"), 2u);
  EXPECT_EQ(res["Absent"], "");
}

TEST(UpstreamResponse, AStatusBeastDoesNotNameKeepsItsCode) {
  const UpstreamResponse res = parse("HTTP/1.1 299 Odd\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(res.result_int(), 299u);
  EXPECT_EQ(res.result(), bhttp::status::unknown);
}

TEST(UpstreamResponse, ChunkedAndUntilCloseBodies) {
  EXPECT_EQ(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").body(),
            "abcde");
  // No length and not chunked: the body runs to the end of the connection, which is not kept.
  const UpstreamResponse res = parse("HTTP/1.1 200 OK\r\n\r\nall of it", true);
  EXPECT_EQ(res.body(), "all of it");
  EXPECT_FALSE(res.keep_alive());
}

TEST(UpstreamResponse, KeepAliveFollowsVersionAndConnection) {
  EXPECT_FALSE(parse("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n").keep_alive());
  EXPECT_TRUE(parse("HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n").keep_alive());
  EXPECT_EQ(parse("HTTP/1.0 204 No Content\r\nConnection: keep-alive\r\n\r\n").version(), 10u);
}

TEST(UpstreamResponse, TheAnswerToHeadHasNoBody) {
  const UpstreamResponse res = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", false, true);
  EXPECT_EQ(res["content-length"], "10");
  EXPECT_EQ(res.body(), "");
}

TEST(UpstreamResponse, LimitsAndMalformedInputAreErrors) {
  boost::system::error_code ec;
  parse("HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n", ec);
  EXPECT_EQ(ec, bhttp::error::body_limit);
  parse("HTTP/1.1 2000 OK\r\n\r\n", ec);
  EXPECT_TRUE(ec);
  parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", ec);
  EXPECT_EQ(ec, bhttp::error::need_more);
  parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", ec, true);
  EXPECT_EQ(ec, bhttp::error::partial_message);
}

}  // namespace
}  // namespace mcp_sidecar::http

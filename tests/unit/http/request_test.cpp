#include "http/request.hpp"

#include <boost/url/parse.hpp>

#include <gtest/gtest.h>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace mcp_sidecar::http {
namespace {

namespace bhttp = boost::beast::http;

// Parses `wire` whole, as the server does (eager, with limits); the error is kept in `ec`.
Request parse(std::string_view wire, boost::system::error_code& ec, std::uint64_t body_limit = 1024) {
  RequestParser parser;
  parser.header_limit(8 * 1024);
  parser.body_limit(body_limit);
  parser.eager(true);
  parser.put(boost::asio::buffer(wire.data(), wire.size()), ec);
  if (!ec && !parser.is_done()) ec = bhttp::error::need_more;
  return parser.release();
}

Request parse(std::string_view wire) {
  boost::system::error_code ec;
  Request req = parse(wire, ec);
  EXPECT_FALSE(ec) << ec.message();
  return req;
}

TEST(Request, LineFieldsAndBodyAsSent) {
  const Request req = parse(
      "POST /mcp/registry?x=1 HTTP/1.1\r\nHost: localhost\r\nMcp-Method: tools/call\r\nX-Seen: one\r\n"
      "x-seen: two\r\nContent-Length: 4\r\n\r\n{\"a\"");
  EXPECT_EQ(req.method(), bhttp::verb::post);
  EXPECT_EQ(req.method_string(), "POST");
  EXPECT_EQ(req.target(), "/mcp/registry?x=1");
  EXPECT_EQ(req.version(), 11u);
  EXPECT_TRUE(req.keep_alive());
  EXPECT_EQ(req.body(), "{\"a\"");

  std::vector<std::string> seen;
  for (const auto& f : req) seen.push_back(std::string(f.name_string()) + "=" + std::string(f.value()));
  EXPECT_EQ(seen, (std::vector<std::string>{"Host=localhost", "Mcp-Method=tools/call", "X-Seen=one", "x-seen=two",
                                            "Content-Length=4"}));
  // Names compare case-insensitively, known ones also by their enum; the first of several wins.
  EXPECT_EQ(req[bhttp::field::host], "localhost");
  EXPECT_EQ(req["HOST"], "localhost");
  EXPECT_EQ(req["mcp-method"], "tools/call");
  EXPECT_EQ(req["X-SEEN"], "one");
  EXPECT_EQ(req.count("x-seen"), 2u);
  EXPECT_EQ(req.count(bhttp::field::content_length), 1u);
  EXPECT_EQ(req.find("Content-length")->name(), bhttp::field::content_length);
  EXPECT_EQ(req["Absent"], "");
  EXPECT_EQ(req.find(bhttp::field::authorization), req.end());
  EXPECT_EQ(req.count("Absent"), 0u);
}

TEST(Request, ChunkedBodyIsJoined) {
  const Request req =
      parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n");
  EXPECT_EQ(req.body(), "abcde");
}

TEST(Request, KeepAliveFollowsVersionAndConnection) {
  EXPECT_FALSE(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n").keep_alive());
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").keep_alive());
  EXPECT_TRUE(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
  EXPECT_EQ(parse("GET / HTTP/1.0\r\n\r\n").version(), 10u);
}

TEST(Request, LimitsAndMalformedInputAreErrors) {
  boost::system::error_code ec;
  parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000\r\n\r\n", ec);
  EXPECT_EQ(ec, bhttp::error::body_limit);
  parse("POST / HTTP/1.1\r\nHost h\r\n\r\n", ec);
  EXPECT_TRUE(ec);
  parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nab", ec);
  EXPECT_EQ(ec, bhttp::error::need_more);
}

TEST(Request, MovedRequestKeepsItsFields) {
  Request req = parse("GET /a HTTP/1.1\r\nHost: h\r\nX-Y: z\r\n\r\n");
  Request moved = std::move(req);
  EXPECT_EQ(moved.target(), "/a");
  EXPECT_EQ(moved["x-y"], "z");
  Request built(bhttp::verb::delete_, "/mcp", 11);
  built.insert("Mcp-Session-Id", "s1");
  EXPECT_EQ(built.method_string(), "DELETE");
  EXPECT_EQ(built["mcp-session-id"], "s1");
  EXPECT_TRUE(built.keep_alive());
}

// The router's shortcut gives Boost.URL's segments for every target it takes, and leaves the
// others (escapes, queries, fragments, bytes a path may not hold, relative forms) to Boost.URL.
TEST(Request, PlainPathSegmentsAreBoostUrlsSegments) {
  for (std::string_view target : {"/",
                                  "/mcp/stub",
                                  "/mcp/stub/",
                                  "//mcp",
                                  "/mcp//x",
                                  "/v1/servers/kyc/tools/check_name/retry",
                                  "/a/./b/../c",
                                  "/a:b@c/!$&'()*+,;=-._~",
                                  "/mcp/stub?x=1",
                                  "/mcp/st%75b",
                                  "/mcp#f",
                                  "/mcp/stub/messages?sessionId=s1",
                                  "",
                                  "mcp",
                                  "*",
                                  "/a b",
                                  "/a\"b",
                                  "/é",
                                  "/a[b]",
                                  "/a{b}",
                                  "/a|b",
                                  "/a^b",
                                  "/a`b",
                                  "/a\\b"}) {
    std::vector<std::string> plain{"kept"};
    const bool taken = plain_path_segments(target, plain);
    auto parsed = boost::urls::parse_origin_form(target);
    const bool simple = target.find_first_of("%?#") == std::string_view::npos;
    if (!taken) {
      EXPECT_EQ(plain, std::vector<std::string>{"kept"}) << target;
      EXPECT_TRUE(!parsed || !simple) << target;  // only Boost.URL can read it, if anyone can
      continue;
    }
    ASSERT_TRUE(parsed) << target;
    std::vector<std::string> expected{"kept"};
    for (auto segment : parsed->segments()) expected.push_back(segment);
    EXPECT_EQ(plain, expected) << target;
  }
}

}  // namespace
}  // namespace mcp_sidecar::http

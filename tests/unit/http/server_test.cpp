#include "http/server.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <utility>

namespace mcp_sidecar::http {
namespace {

namespace bhttp = boost::beast::http;

// A POST head with these fields, in order (duplicates kept).
bhttp::request_header<> head(std::initializer_list<std::pair<std::string_view, std::string_view>> fields,
                             unsigned version = 11) {
  bhttp::request_header<> h;
  h.method(bhttp::verb::post);
  h.target("/v1/call");
  h.version(version);
  for (const auto& [name, value] : fields) h.insert(name, value);
  return h;
}

TEST(HeadProblem, PlainRequestsPass) {
  EXPECT_EQ(head_problem(head({{"Host", "localhost"}})), "");
  EXPECT_EQ(head_problem(head({{"Host", "localhost"}, {"Content-Length", "2"}})), "");
  EXPECT_EQ(head_problem(head({{"Host", "localhost"}, {"Transfer-Encoding", "chunked"}})), "");
  EXPECT_EQ(head_problem(head({{"Host", "localhost"}, {"Transfer-Encoding", "Chunked"}})), "");
}

TEST(HeadProblem, RefusesEveryCodingButOneChunked) {
  EXPECT_NE(head_problem(head({{"Host", "localhost"}, {"Transfer-Encoding", "gzip"}})), "");
  EXPECT_NE(head_problem(head({{"Host", "localhost"}, {"Transfer-Encoding", "chunked, gzip"}})), "");
  EXPECT_NE(head_problem(head({{"Host", "localhost"}, {"Transfer-Encoding", "gzip, chunked"}})), "");
  EXPECT_NE(head_problem(head({{"Host", "localhost"}, {"Transfer-Encoding", "chunked, chunked"}})), "");
  EXPECT_NE(
      head_problem(head({{"Host", "localhost"}, {"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}})),
      "");
  EXPECT_NE(head_problem(head({{"Host", "localhost"}, {"Transfer-Encoding", ""}})), "");
}

TEST(HeadProblem, RefusesTransferEncodingWithContentLength) {
  EXPECT_NE(head_problem(head({{"Host", "localhost"}, {"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}})), "");
  EXPECT_NE(head_problem(head({{"Host", "localhost"}, {"Transfer-Encoding", "chunked"}, {"Content-Length", "5"}})), "");
}

TEST(HeadProblem, WantsExactlyOneHostInHttp11) {
  EXPECT_NE(head_problem(head({})), "");
  EXPECT_NE(head_problem(head({{"Host", "localhost"}, {"Host", "other.example"}})), "");
  EXPECT_NE(head_problem(head({{"Host", "localhost"}, {"Host", "localhost"}})), "");
  EXPECT_EQ(head_problem(head({}, 10)), "");  // HTTP/1.0 had no Host
  EXPECT_NE(head_problem(head({{"Host", "a"}, {"Host", "b"}}, 10)), "");
}

}  // namespace
}  // namespace mcp_sidecar::http

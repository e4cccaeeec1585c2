#include "http/client.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar::http {
namespace {

TEST(Url, ParsesHttpUrls) {
  auto u = parse_url("http://127.0.0.1:8101/mcp");
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "8101");
  EXPECT_EQ(u->target, "/mcp");
  EXPECT_EQ(u->host_header, "127.0.0.1:8101");
}

TEST(Url, DefaultsPortAndPath) {
  auto u = parse_url("http://registry.kyc.svc");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->target, "/");
  EXPECT_EQ(u->host_header, "registry.kyc.svc");
  auto s = parse_url("https://sanctions:7443/mcp?x=1");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->tls);
  EXPECT_EQ(s->target, "/mcp?x=1");
}

TEST(Url, Ipv6Literal) {
  auto u = parse_url("http://[::1]:9000/mcp");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->host_header, "[::1]:9000");
}

TEST(Url, RejectsOtherSchemesAndUserinfo) {
  EXPECT_FALSE(parse_url("ftp://x/mcp"));
  EXPECT_FALSE(parse_url("http://user:pw@host/mcp"));
  EXPECT_FALSE(parse_url("not a url"));
  EXPECT_FALSE(parse_url("http:///mcp"));
}

// The HTTP+SSE `endpoint` event: where the sidecar POSTs, and never off the server's origin.
TEST(Url, SameOriginTargets) {
  auto base = *parse_url("http://pep.kyc:8000/sse");
  EXPECT_EQ(same_origin_target(base, "/messages?sessionId=abc"), "/messages?sessionId=abc");
  EXPECT_EQ(same_origin_target(base, "messages?sessionId=abc"), "/messages?sessionId=abc");
  EXPECT_EQ(same_origin_target(*parse_url("http://pep:8000/mcp/sse?x=1"), "messages"), "/mcp/messages");
  EXPECT_EQ(same_origin_target(base, "http://pep.kyc:8000/m?s=1"), "/m?s=1");
  EXPECT_EQ(same_origin_target(base, "http://evil.example:8000/m"), std::nullopt);
  EXPECT_EQ(same_origin_target(base, "http://pep.kyc:9000/m"), std::nullopt);
  EXPECT_EQ(same_origin_target(base, "https://pep.kyc:8000/m"), std::nullopt);
  EXPECT_EQ(same_origin_target(base, "//evil.example/m"), std::nullopt);
  EXPECT_EQ(same_origin_target(base, "javascript:alert(1)"), std::nullopt);
  EXPECT_EQ(same_origin_target(base, "/m\r\nX-Injected: 1"), std::nullopt);
  EXPECT_EQ(same_origin_target(base, ""), std::nullopt);
}

}  // namespace
}  // namespace mcp_sidecar::http

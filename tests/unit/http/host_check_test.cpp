#include "http/host_check.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar::http {
namespace {

const std::vector<std::string> kNone;

TEST(HostCheck, LoopbackNamesAreLocal) {
  EXPECT_TRUE(is_local_host("localhost", kNone));
  EXPECT_TRUE(is_local_host("LOCALHOST:7001", kNone));
  EXPECT_TRUE(is_local_host("127.0.0.1:7001", kNone));
  EXPECT_TRUE(is_local_host("127.1.2.3", kNone));
  EXPECT_TRUE(is_local_host("[::1]:7001", kNone));
  EXPECT_TRUE(is_local_host("app.localhost", kNone));
}

TEST(HostCheck, OtherNamesAreForeignUnlessAllowed) {
  EXPECT_FALSE(is_local_host("evil.example:7001", kNone));
  EXPECT_FALSE(is_local_host("localhost.evil.example", kNone));
  EXPECT_FALSE(is_local_host("10.0.0.1", kNone));
  EXPECT_FALSE(is_local_host("", kNone));
  EXPECT_FALSE(is_local_host("[::1", kNone));
  EXPECT_FALSE(is_local_host("::1", kNone));  // a bare IPv6 literal is not a valid Host
  EXPECT_TRUE(is_local_host("sidecar.internal:7001", {"sidecar.internal"}));
}

TEST(HostCheck, Origins) {
  EXPECT_TRUE(is_local_origin("http://localhost:3000", kNone));
  EXPECT_TRUE(is_local_origin("https://127.0.0.1", kNone));
  EXPECT_FALSE(is_local_origin("http://evil.example", kNone));
  EXPECT_FALSE(is_local_origin("null", kNone));
  EXPECT_FALSE(is_local_origin("file://", kNone));
  EXPECT_FALSE(is_local_origin("http://localhost/path", kNone));
}

}  // namespace
}  // namespace mcp_sidecar::http

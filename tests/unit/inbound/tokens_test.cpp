#include "inbound/tokens.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar::inbound {
namespace {

TEST(Tokens, ParsesNamedTokensAndMatchesThem) {
  auto t =
      Tokens::parse("# rotation window\norchestrator = 0123456789abcdef0123\n\nauditor=fedcba9876543210fedc\r\n", "t");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->size(), 2u);
  EXPECT_EQ(t->match("0123456789abcdef0123"), "orchestrator");
  EXPECT_EQ(t->match("fedcba9876543210fedc"), "auditor");
  EXPECT_FALSE(t->match("0123456789abcdef012"));
  EXPECT_FALSE(t->match(""));
}

TEST(Tokens, ErrorsNameTheLineNeverTheToken) {
  auto missing = Tokens::parse("ok=0123456789abcdef0123\nno-equals-sign-here\n", "tokens.txt");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "tokens.txt:2: expected name=token");
  auto shortone = Tokens::parse("a=short\n", "tokens.txt");
  ASSERT_FALSE(shortone);
  EXPECT_EQ(shortone.error().message.find("short\n"), std::string::npos);
  EXPECT_NE(shortone.error().message.find("shorter than 16"), std::string::npos);
  EXPECT_FALSE(Tokens::parse("a=0123456789abcdef0123\na=0123456789abcdef9999\n", "t"));
  EXPECT_FALSE(Tokens::parse("bad name=0123456789abcdef0123\n", "t"));
}

TEST(Tokens, TwoTokensForOneCallerDuringARotation) {
  auto t = Tokens::parse("orchestrator=0123456789abcdef0123\norchestrator-next=abcdefabcdefabcdefab\n", "t");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->match("abcdefabcdefabcdefab"), "orchestrator-next");
}

}  // namespace
}  // namespace mcp_sidecar::inbound

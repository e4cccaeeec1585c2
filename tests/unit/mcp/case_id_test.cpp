#include "mcp/case_id.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar::mcp {
namespace {

using json = nlohmann::json;

std::uint64_t fixed() { return 0x0123456789abcdefULL; }

TEST(CaseId, ValidFormat) {
  EXPECT_TRUE(valid_case_id("kyc-2026-001"));
  EXPECT_TRUE(valid_case_id("A.b_c:d-9"));
  EXPECT_TRUE(valid_case_id(std::string(128, 'x')));
  EXPECT_FALSE(valid_case_id(""));
  EXPECT_FALSE(valid_case_id(std::string(129, 'x')));
  EXPECT_FALSE(valid_case_id("has space"));
  EXPECT_FALSE(valid_case_id("slash/no"));
  EXPECT_FALSE(valid_case_id("new\nline"));
  EXPECT_FALSE(valid_case_id("caf\xC3\xA9"));
}

TEST(CaseId, HeaderWins) {
  auto r = resolve_case_id("case-1", json::object(), "case_id", fixed);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), "case-1");
}

TEST(CaseId, HeaderAndMatchingArgumentAgree) {
  auto r = resolve_case_id("case-1", json{{"case_id", "case-1"}}, "case_id", fixed);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), "case-1");
}

TEST(CaseId, HeaderAndArgumentThatDisagreeAreABadRequest) {
  auto r = resolve_case_id("case-1", json{{"case_id", "case-2"}}, "case_id", fixed);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::bad_case_id);
  EXPECT_EQ(r.error().message.find("case-2"), std::string::npos);  // no caller values in errors
}

TEST(CaseId, ArgumentIsUsedWithoutHeader) {
  auto r = resolve_case_id(std::nullopt, json{{"case_id", "from-arg"}}, "case_id", fixed);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), "from-arg");
}

TEST(CaseId, ConfiguredArgumentName) {
  auto r = resolve_case_id(std::nullopt, json{{"correlation", "c1"}, {"case_id", "ignored"}}, "correlation", fixed);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), "c1");
}

TEST(CaseId, GeneratedWhenAbsent) {
  auto r = resolve_case_id(std::nullopt, json::object(), "case_id", fixed);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), "c-0123456789abcdef89abcdef");
  EXPECT_TRUE(valid_case_id(r.value()));
}

TEST(CaseId, InvalidHeaderOrArgumentIsRejected) {
  EXPECT_FALSE(resolve_case_id("bad id", json::object(), "case_id", fixed));
  EXPECT_FALSE(resolve_case_id("", json::object(), "case_id", fixed));
  EXPECT_FALSE(resolve_case_id(std::nullopt, json{{"case_id", "bad id"}}, "case_id", fixed));
  EXPECT_FALSE(resolve_case_id(std::nullopt, json{{"case_id", 42}}, "case_id", fixed));
}

}  // namespace
}  // namespace mcp_sidecar::mcp

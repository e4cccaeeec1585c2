// The correlation id of a KYC case: where it comes from, what it may look like, how a new one is
// made. Pure; the random source is injected so tests are exact.
#pragma once

#include "core/result.hpp"
#include "mcp/json_document.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace mcp_sidecar::mcp {

// 1-128 characters of [A-Za-z0-9._:-].
bool valid_case_id(std::string_view id);

// A new id, "c-" followed by 24 hex digits from `random64` (96 random bits).
std::string generate_case_id(const std::function<std::uint64_t()>& random64);

// Header first, else the `argument` field of the tool arguments, else generated. Header and
// argument that disagree, or an invalid id, are a bad_case_id error (the message names no value).
Result<std::string> resolve_case_id(std::optional<std::string_view> header, const nlohmann::json& arguments,
                                    std::string_view argument, const std::function<std::uint64_t()>& random64);
// The same, given the arguments' member `argument` where it lies (mcp::JsonView or
// mcp::ValueView; absent when there is none).
template <class View>
Result<std::string> resolve_case_id(std::optional<std::string_view> header, View given, std::string_view argument,
                                    const std::function<std::uint64_t()>& random64) {
  if (!given.absent() && !given.is_string())
    return make_error(ErrorCode::bad_case_id, "argument '" + std::string(argument) + "' must be a string");
  std::optional<std::string_view> from_argument;
  if (!given.absent()) from_argument = given.str();
  if (header) {
    if (!valid_case_id(*header))
      return make_error(ErrorCode::bad_case_id, "case id header must be 1-128 characters of [A-Za-z0-9._:-]");
    if (from_argument && *from_argument != *header)
      return make_error(ErrorCode::bad_case_id, "case id header and argument disagree");
    return std::string(*header);
  }
  if (from_argument) {
    if (!valid_case_id(*from_argument))
      return make_error(ErrorCode::bad_case_id,
                        "argument '" + std::string(argument) + "' must be 1-128 characters of [A-Za-z0-9._:-]");
    return std::string(*from_argument);
  }
  return generate_case_id(random64);
}

}  // namespace mcp_sidecar::mcp

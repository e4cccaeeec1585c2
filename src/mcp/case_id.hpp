// The correlation id of a KYC case: where it comes from, what it may look like, how a new one is
// made. Pure; the random source is injected so tests are exact.
#pragma once

#include "core/result.hpp"

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

}  // namespace mcp_sidecar::mcp

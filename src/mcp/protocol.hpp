// MCP protocol revisions the sidecar knows, and what it says about itself.
#pragma once

#include <array>
#include <string_view>

namespace mcp_sidecar::mcp {

// Streamable HTTP with sessions, newest first: what we offer in `initialize`.
inline constexpr std::array<std::string_view, 3> kSessionRevisions = {"2025-11-25", "2025-06-18", "2025-03-26"};
inline constexpr std::string_view kLegacySseRevision = "2024-11-05";
inline constexpr std::string_view kStatelessRevision = "2026-07-28";

inline bool is_session_revision(std::string_view v) {
  for (auto r : kSessionRevisions)
    if (r == v) return true;
  return false;
}

// Header names (HTTP headers are case-insensitive; these are the spellings we send).
inline constexpr std::string_view kSessionIdHeader = "Mcp-Session-Id";
inline constexpr std::string_view kProtocolVersionHeader = "MCP-Protocol-Version";
inline constexpr std::string_view kLastEventIdHeader = "Last-Event-ID";

inline constexpr std::string_view kClientName = "mcp-sidecar";

}  // namespace mcp_sidecar::mcp

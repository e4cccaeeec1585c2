// Upstream sessions over MCP Streamable HTTP (revisions 2025-03-26 .. 2025-11-25): initialize +
// notifications/initialized, Mcp-Session-Id and MCP-Protocol-Version on every request,
// responses as JSON or as an SSE stream parsed event by event, DELETE on close.
#pragma once

#include "http/client.hpp"
#include "outbound/session.hpp"

#include <functional>

namespace mcp_sidecar::outbound {

// Shared by every session of one upstream; owned by the Upstream, outlives its sessions.
struct StreamableHttpSettings {
  std::string authorization;   // full header value ("Bearer ..."), empty = none
  std::string case_id_header;  // e.g. X-Case-Id
  std::size_t max_response_bytes = 16 << 20;
  std::string client_version;           // clientInfo.version and User-Agent
  int max_resumptions = 5;              // GET + Last-Event-ID attempts for one request
  std::function<void()> on_resumption;  // metrics hook: a stream was resumed
};

std::shared_ptr<UpstreamSession> make_streamable_http_session(http::ConnectionPool& pool,
                                                              const StreamableHttpSettings& settings);

}  // namespace mcp_sidecar::outbound

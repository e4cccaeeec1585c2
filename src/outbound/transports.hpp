// The transports an upstream session can speak, and automatic detection among them:
//  - Streamable HTTP with sessions (2025-03-26 .. 2025-11-25): initialize +
//    notifications/initialized, Mcp-Session-Id and MCP-Protocol-Version on every request,
//    resumable streams, DELETE on close (streamable_http.cpp);
//  - stateless Streamable HTTP (2026-07-28): no session; opening is a server/discover, every
//    request carries the _meta protocol fields and the MCP-Protocol-Version, Mcp-Method, Mcp-Name
//    and Mcp-Param-* headers; cancellation is closing the stream (streamable_http.cpp);
//  - HTTP+SSE (2024-11-05): a long-lived GET event stream announcing a POST endpoint; answers
//    come back on the stream, matched by id (legacy_sse.cpp);
//  - auto: a session that finds out which of those the server speaks, the way the 2026-07-28
//    backward-compatibility rules describe, and remembers the verdict for the upstream
//    (auto_detect.cpp).
#pragma once

#include "http/client.hpp"
#include "outbound/session.hpp"

#include <functional>
#include <optional>

namespace mcp_sidecar::outbound {

// Shared by every session of one upstream; owned by the Upstream, outlives its sessions.
struct TransportSettings {
  std::string authorization;   // full header value ("Bearer ..."), empty = none
  std::string case_id_header;  // e.g. X-Case-Id
  std::size_t max_response_bytes = 16 << 20;
  std::string client_version;           // clientInfo.version and User-Agent
  int max_resumptions = 5;              // GET + Last-Event-ID attempts for one request
  std::function<void()> on_resumption;  // metrics hook: a stream was resumed
  // What the sidecar declares at initialize: nothing for pooled sessions (it answers no server
  // requests there); a client's own capabilities for sessions that carry that client's calls.
  nlohmann::json client_capabilities = nlohmann::json::object();
};

// Era::stateless or Era::sessions.
std::shared_ptr<UpstreamSession> make_streamable_http_session(http::ConnectionPool& pool,
                                                              const TransportSettings& settings, Era era);
std::shared_ptr<UpstreamSession> make_legacy_sse_session(http::ConnectionPool& pool, const TransportSettings& settings);
std::shared_ptr<UpstreamSession> make_session(http::ConnectionPool& pool, const TransportSettings& settings, Era era);

// What automatic detection concluded for one upstream, shared by its sessions.
struct EraVerdict {
  std::optional<Era> era;
  // Told about every conclusion (detected) and every contradiction (lost), for metrics and logs.
  std::function<void(Era era)> on_detected;
  std::function<void(Era era)> on_contradicted;
};

// A session that opens as the verdict's era, or detects the era first when there is none (or
// when the server contradicts it): a modern request (server/discover), then initialize, then
// the HTTP+SSE event stream.
std::shared_ptr<UpstreamSession> make_detecting_session(http::ConnectionPool& pool, const TransportSettings& settings,
                                                        EraVerdict& verdict);

}  // namespace mcp_sidecar::outbound

// POST /mcp/{server} on the outbound listener: the sidecar as an MCP server, so an application
// written against an MCP SDK points its server URL here and gets the pools, credentials,
// case_id, timeouts and metrics without changing a line.
//
// This endpoint speaks the 2026-07-28 revision (stateless) to its clients, in front of an
// upstream of any revision: it validates each request as a 2026-07-28 server must (the _meta
// protocol fields; MCP-Protocol-Version, Mcp-Method, Mcp-Name and Mcp-Param-* against the body:
// 400 with -32020, -32022 or -32602), answers server/discover and tools/list itself (from the
// upstream's cached tool list) and sends tools/call through the upstream's pool, passing
// input_required results back and their retries on. Clients of the session revisions are told,
// in the error to their initialize, which revision this endpoint speaks.
#pragma once

#include "config/config.hpp"
#include "http/server.hpp"
#include "outbound/upstream.hpp"
#include "telemetry/call_log.hpp"

#include <cstdint>
#include <functional>

namespace mcp_sidecar::outbound {

class McpEndpoint {
 public:
  McpEndpoint(const config::OutboundConfig& config, Metrics& metrics, CallLog& calls,
              std::function<std::uint64_t()> random64, std::string version);

  asio::awaitable<void> handle(http::Request& req, http::Exchange& ex, Upstream& upstream);

 private:
  asio::awaitable<void> call_tool(http::Request& req, http::Exchange& ex, Upstream& upstream, const json& message);
  json discover_result(const Upstream& upstream) const;

  const config::OutboundConfig& config_;
  Metrics& metrics_;
  CallLog& calls_;
  std::function<std::uint64_t()> random64_;
  std::string version_;
};

}  // namespace mcp_sidecar::outbound

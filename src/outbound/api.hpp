// The outbound REST API for applications (docs/api.md has the table of statuses):
//   GET  /v1/servers                        configured servers and their pool state
//   GET  /v1/servers/{server}/tools         the server's tools, as it listed them
//   POST /v1/servers/{server}/tools/{tool}  body = arguments object; 200 = CallToolResult
//   POST /mcp/{server}                       the MCP endpoint for SDK clients (mcp_endpoint.hpp)
// Every request must name a loopback Host and, if it has an Origin, a loopback Origin.
#pragma once

#include "config/config.hpp"
#include "http/server.hpp"
#include "outbound/mcp_endpoint.hpp"
#include "outbound/upstream.hpp"
#include "telemetry/call_log.hpp"

#include <cstdint>
#include <functional>
#include <map>

namespace mcp_sidecar::outbound {

class Api {
 public:
  Api(const config::OutboundConfig& config, std::map<std::string, Upstream*, std::less<>> upstreams, Metrics& metrics,
      CallLog& calls, std::function<std::uint64_t()> random64, std::string version);

  asio::awaitable<void> handle(http::Request& req, http::Exchange& ex);
  void close_sessions() { mcp_.close_sessions(); }

 private:
  // POST .../tools/{tool}: the body is the arguments. POST .../tools/{tool}/retry: the body is
  // {"arguments", "inputResponses", "requestState"}, the answer to an input_required result.
  asio::awaitable<void> call_tool(http::Request& req, http::Exchange& ex, Upstream& upstream, std::string tool,
                                  bool retry);
  asio::awaitable<void> list_tools(http::Request& req, http::Exchange& ex, Upstream& upstream);
  asio::awaitable<void> list_servers(http::Request& req, http::Exchange& ex);

  const config::OutboundConfig& config_;
  std::map<std::string, Upstream*, std::less<>> upstreams_;
  Metrics& metrics_;
  CallLog& calls_;
  std::function<std::uint64_t()> random64_;
  McpEndpoint mcp_;  // POST /mcp/{server}
};

// Sends the JSON error body for `error` with its status (and Retry-After when set).
// (A coroutine: takes the error by value, so it may be awaited after the caller's temporaries die.)
asio::awaitable<void> respond_error(http::Exchange& ex, Error error, unsigned version,
                                    std::string_view case_id_header = {}, std::string_view case_id = {});

}  // namespace mcp_sidecar::outbound

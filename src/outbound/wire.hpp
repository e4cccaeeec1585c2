// What the transports share on the wire: bounds, and the initialize exchange of the session eras
// (Streamable HTTP with sessions and HTTP+SSE). Internal to src/outbound.
#pragma once

#include "core/result.hpp"
#include "mcp/protocol.hpp"
#include "outbound/transports.hpp"

#include <chrono>

namespace mcp_sidecar::outbound::wire {

inline constexpr std::size_t kErrorBodyLimit = 64 << 10;
// Background messages (replies to server requests, cancellations) get this long.
inline constexpr auto kBackgroundTimeout = std::chrono::seconds(5);

inline Error transport_error(ErrorCode code, std::string message, bool not_delivered = false) {
  Error e{code, std::move(message)};
  e.not_delivered = not_delivered;
  return e;
}

inline json initialize_params(const TransportSettings& settings) {
  return {{"protocolVersion", mcp::kSessionRevisions.front()},
          {"capabilities", settings.client_capabilities},
          {"clientInfo", {{"name", mcp::kClientName}, {"version", settings.client_version}}}};
}

// Takes the server's answer to initialize into `info` (HTTP+SSE servers may also choose 2024-11-05).
inline Result<void> apply_initialize(const json& reply, SessionInfo& info, bool legacy_sse) {
  if (auto err = reply.find("error"); err != reply.end())
    return Error{ErrorCode::upstream_rpc_error, "upstream refused initialize", *err};
  const json& result = reply["result"];
  if (!result.is_object() || !result.contains("protocolVersion") || !result["protocolVersion"].is_string())
    return make_error(ErrorCode::upstream_protocol, "upstream initialize result has no protocolVersion");
  std::string version = result["protocolVersion"];
  if (!mcp::is_session_revision(version) && !(legacy_sse && version == mcp::kLegacySseRevision))
    return make_error(ErrorCode::upstream_protocol, "upstream chose unsupported protocol version " + version);
  info.protocol_version = std::move(version);
  if (auto it = result.find("serverInfo"); it != result.end() && it->is_object()) info.server_info = *it;
  if (auto it = result.find("capabilities"); it != result.end() && it->is_object()) info.capabilities = *it;
  if (auto it = result.find("instructions"); it != result.end() && it->is_string()) info.instructions = *it;
  return {};
}

}  // namespace mcp_sidecar::outbound::wire

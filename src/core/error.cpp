#include "core/error.hpp"

namespace mcp_sidecar {

namespace {
struct Mapping {
  int http;
  int jsonrpc;
  std::string_view name;
  std::string_view outcome;
};

// The single table every role reports errors through.
constexpr Mapping mapping(ErrorCode code) {
  switch (code) {
    case ErrorCode::bad_request:
      return {400, -32602, "bad_request", "rejected"};
    case ErrorCode::bad_case_id:
      return {400, -32602, "bad_case_id", "rejected"};
    case ErrorCode::unauthenticated:
      return {401, -32001, "unauthenticated", "rejected"};
    case ErrorCode::forbidden:
      return {403, -32003, "forbidden", "rejected"};
    case ErrorCode::unknown_server:
      return {404, -32601, "unknown_server", "rejected"};
    case ErrorCode::unknown_tool:
      return {404, -32602, "unknown_tool", "rejected"};
    case ErrorCode::not_found:
      return {404, -32601, "not_found", "rejected"};
    case ErrorCode::method_not_allowed:
      return {405, -32600, "method_not_allowed", "rejected"};
    case ErrorCode::payload_too_large:
      return {413, -32600, "payload_too_large", "rejected"};
    case ErrorCode::headers_too_large:
      return {431, -32600, "headers_too_large", "rejected"};
    case ErrorCode::upstream_protocol:
      return {502, -32603, "upstream_protocol_error", "rpc_error"};
    case ErrorCode::upstream_rpc_error:
      return {502, -32603, "upstream_error", "rpc_error"};
    case ErrorCode::upstream_version_unsupported:
      return {502, -32603, "upstream_version_unsupported", "rpc_error"};
    case ErrorCode::upstream_header_mismatch:
      return {502, -32603, "upstream_header_mismatch", "rpc_error"};
    case ErrorCode::upstream_capability_required:
      return {502, -32603, "upstream_capability_required", "rpc_error"};
    case ErrorCode::unavailable:
      return {503, -32603, "upstream_unavailable", "unavailable"};
    case ErrorCode::overloaded:
      return {503, -32603, "overloaded", "unavailable"};
    case ErrorCode::timeout:
      return {504, -32001, "timeout", "timeout"};
    case ErrorCode::cancelled:
      return {503, -32603, "cancelled", "cancelled"};
    case ErrorCode::internal:
      return {500, -32603, "internal", "rpc_error"};
  }
  return {500, -32603, "internal", "rpc_error"};
}
}  // namespace

int http_status(ErrorCode code) { return mapping(code).http; }
int jsonrpc_code(ErrorCode code) { return mapping(code).jsonrpc; }
std::string_view code_name(ErrorCode code) { return mapping(code).name; }
std::string_view outcome_label(ErrorCode code) { return mapping(code).outcome; }

int retry_after(const Error& error) {
  if (error.retry_after_seconds > 0) return error.retry_after_seconds;
  return http_status(error.code) == 503 ? 1 : 0;
}

nlohmann::json error_body(const Error& error) {
  nlohmann::json body = {{"code", code_name(error.code)}, {"message", error.message}};
  if (!error.detail.is_null()) body["upstream_error"] = error.detail;
  if (int seconds = retry_after(error)) body["retry_after_seconds"] = seconds;
  return {{"error", std::move(body)}};
}

}  // namespace mcp_sidecar

// The errors the sidecar reports to its callers: one small typed set, mapped to an HTTP status, a
// JSON-RPC error code, a metric outcome and a stable name in one place (error.cpp).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace mcp_sidecar {

enum class ErrorCode {
  bad_request,         // malformed body, arguments that are not an object, ...
  bad_case_id,         // case_id invalid, or header and argument disagree
  unauthenticated,     // no or bad credentials at the inbound gate
  forbidden,           // Host/Origin refused, debug endpoint from a non-loopback peer, policy denial
  unknown_server,      // no upstream of that name
  unknown_tool,        // the upstream does not list that tool
  not_found,           // no such route
  method_not_allowed,  // route exists, method does not
  payload_too_large,   // request body over the limit
  headers_too_large,   // request head over the limit
  upstream_protocol,   // the upstream answered something that is not MCP
  upstream_rpc_error,  // the upstream answered a JSON-RPC error (passed along in `detail`)
  // 2026-07-28 refusals (detail carries the upstream's error):
  upstream_version_unsupported,  // -32022: no protocol version in common
  upstream_header_mismatch,      // -32020: the server read our headers differently from the body
  upstream_capability_required,  // -32021: the server needs a client capability we do not declare
  unavailable,                   // no session could be opened or the upstream is down
  overloaded,                    // a bound was hit: in-flight calls, connections, file descriptors
  timeout,                       // the call timeout expired
  cancelled,                     // the sidecar is shutting down
  internal,                      // a bug: logged loudly
};

// An error with a message that is safe for callers and logs: it never carries argument values,
// tokens or other PII. `detail` may carry the upstream's JSON-RPC error object.
struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;
  nlohmann::json detail = nullptr;
  int retry_after_seconds = 0;  // when known (an unavailable pool's backoff); see retry_after()
  bool not_delivered = false;   // provably never reached the upstream: safe to send again
};

int http_status(ErrorCode code);
int jsonrpc_code(ErrorCode code);
std::string_view code_name(ErrorCode code);
// The `outcome` label of mcp_sidecar_calls_total for a call that failed with `code`.
std::string_view outcome_label(ErrorCode code);
// The Retry-After (seconds) of an answer carrying `error`: the error's own when it knows one
// (an unavailable pool's backoff, also for the refusal that made it give up), else 1 s for
// every 503; 0: none.
int retry_after(const Error& error);

// The JSON error body of the REST API: {"error": {"code": ..., "message": ..., ...}}.
nlohmann::json error_body(const Error& error);

}  // namespace mcp_sidecar

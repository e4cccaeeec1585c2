// The seam between the pool and the wire: an upstream session as the pool sees it, whatever
// the transport: Streamable HTTP with sessions or stateless (streamable_http.cpp), legacy
// HTTP+SSE (legacy_sse.cpp), or a session that first detects which of them the server speaks
// (auto_detect.cpp). All sit behind the same pool, timeouts, heartbeat and metrics.
#pragma once

#include "core/async.hpp"
#include "core/result.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mcp_sidecar::outbound {

using json = nlohmann::json;

// The three eras of MCP over HTTP a server may speak.
enum class Era {
  stateless,   // 2026-07-28: no session, per-request _meta and headers
  sessions,    // 2025-03-26 .. 2025-11-25: Streamable HTTP with initialize and Mcp-Session-Id
  legacy_sse,  // 2024-11-05: a GET event stream plus the POST endpoint it announces
};
std::string_view era_name(Era era);

// What the upstream told us when the session opened.
struct SessionInfo {
  Era era = Era::sessions;
  std::string protocol_version;
  std::string session_id;  // for debug views only; never logged or used as a label
  json server_info = json::object();
  json capabilities = json::object();
  std::string instructions;
};

// Answers one server-to-client request on the upstream session that sent it (any time while
// that session lives); the message is a JSON-RPC result or error carrying the server's id.
using Reply = std::function<void(json response)>;

// A caller's way to give up a request before its deadline: its own client cancelled or left.
// The transport arms it while the request is in flight (closing the exchange, waking a waiter);
// a request cancelled after it was sent is cancelled upstream as its revision says.
class Cancellation {
 public:
  void cancel() {
    if (requested_) return;
    requested_ = true;
    if (hook_) std::exchange(hook_, nullptr)();
  }
  bool requested() const { return requested_; }
  void arm(std::function<void()> hook) { hook_ = std::move(hook); }
  void disarm() { hook_ = nullptr; }

 private:
  bool requested_ = false;
  std::function<void()> hook_;
};

struct RpcOptions {
  TimePoint deadline;
  std::string_view case_id;  // sent as the case id header; empty = none
  // Headers of this request only (the 2026-07-28 Mcp-Param-* mirrors of tool arguments).
  std::vector<std::pair<std::string, std::string>> headers;
  // 2026-07-28: the client capabilities this request declares (what the caller can answer in
  // an input_required result); null = none. Session eras declare theirs once, at initialize.
  const json* client_capabilities = nullptr;
  // When set, each progress notification moves the deadline to now + this, never past
  // max_deadline (outbound.timeout_resets_on_progress).
  milliseconds progress_extension{0};
  TimePoint max_deadline{};
  // Notifications the server sends on this request's stream before the response (progress,
  // logging). Unset: they are dropped.
  std::function<void(const json&)> on_message;
  // Server-to-client requests that belong to this request (sampling, elicitation, roots), with
  // the way to answer them. Unset: requests other than ping are refused with method-not-found
  // (this client declared no capabilities).
  std::function<void(const json&, Reply)> on_request;
  Cancellation* cancel = nullptr;
  // Running it twice is harmless (initialize, ping, discovery, lists, a tool annotated
  // idempotentHint or readOnlyHint): an answer lost with its connection earns one more send
  // (Upstream::rpc), and a request a reused kept-alive connection took down with it before
  // any byte of the answer is sent again on a fresh connection (the transport).
  bool idempotent = false;
  // A tools/call whose caller passes what the tool returned on unread: the transport keeps it as
  // the text it came in (mcp::parse_tool_response) instead of building it as JSON values.
  bool tool_output_as_text = false;
};

// One MCP session with an upstream: opened once, carries many concurrent requests (each on its
// own pooled connection), closed once. Not thread-safe: lives on the event loop.
class UpstreamSession {
 public:
  virtual ~UpstreamSession() = default;

  virtual asio::awaitable<Result<void>> open(TimePoint deadline) = 0;
  // Sends a request; returns the JSON-RPC response message for it (a result or an error).
  // Failures that provably never reached the server carry Error::not_delivered.
  virtual asio::awaitable<Result<json>> request(std::string_view method, const json& params,
                                                const RpcOptions& options) = 0;
  virtual asio::awaitable<Result<void>> notify(std::string_view method, const json& params, TimePoint deadline) = 0;
  // Ends the session (DELETE on Streamable HTTP, after the requests in flight on it ended, so
  // their answers are not cut), within `deadline`; best effort, never throws.
  virtual asio::awaitable<void> close(TimePoint deadline) = 0;

  // False once the transport learned the session is gone (404) or broken: the pool evicts it.
  virtual bool alive() const = 0;
  virtual std::string_view failure_reason() const = 0;  // why alive() turned false
  // True once the server answered in a way its era forbids (a 400/404/405 without a modern
  // JSON-RPC error to a stateless request, an HTTP refusal of initialize, a refused event
  // stream): the server is not what the pool thought, and automatic detection starts again.
  virtual bool era_contradicted() const { return false; }
  // A session with a life of its own (an HTTP+SSE event stream) reports its loss as it happens,
  // so the pool evicts it before a caller meets it. Others are found dead when used.
  virtual void on_lost(std::function<void()> callback) {}
  // Messages the server sends outside any request (resource updates): a session that can
  // receive them (an HTTP+SSE stream; a Streamable HTTP session, which opens its GET stream for
  // this) passes each to `handler` until it closes. Others never call it.
  virtual void on_server_message(std::function<void(const json&)> handler) {}
  virtual const SessionInfo& info() const = 0;
};

using SessionFactory = std::function<std::shared_ptr<UpstreamSession>()>;

}  // namespace mcp_sidecar::outbound

// /mcp/{server} on the outbound listener: the sidecar as an MCP server, so an application
// written against any MCP SDK points its server URL here and gets the pools, credentials,
// case_id, timeouts and metrics without changing a line.
//
// It speaks to each client in the client's revision, in front of an upstream of any revision:
//  - 2026-07-28 (stateless): each request is validated as that revision requires (_meta
//    protocol fields; MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Param-* against the body:
//    400 with -32020, -32022 or -32602); server/discover is answered from the upstream's
//    capabilities; input_required results pass back and their retries on.
//  - 2025-03-26..2025-11-25 (sessions): `initialize` gets the sidecar's own Mcp-Session-Id and
//    the upstream's capabilities; the client's requests travel over the shared upstream pool
//    (the client's ids never reach the upstream); what cannot be shared (log level, requests in
//    flight for cancellation, questions the server asks) lives in the client's session.
// Both kinds get progress and log messages on the request's own event stream, with the client's
// own progressToken; questions a session upstream asks during a call reach the client that made
// the call (under the sidecar's ids) and answers go back; a 2026-07-28 upstream's
// input_required result is asked of a session client the same way and the call retried.
#pragma once

#include "config/config.hpp"
#include "http/server.hpp"
#include "mcp/json_document.hpp"
#include "outbound/client_sessions.hpp"
#include "outbound/relay.hpp"
#include "outbound/upstream.hpp"
#include "telemetry/call_log.hpp"

#include <cstdint>
#include <functional>
#include <map>

namespace mcp_sidecar::outbound {

class McpEndpoint {
 public:
  McpEndpoint(const config::OutboundConfig& config, Metrics& metrics, CallLog& calls,
              std::function<std::uint64_t()> random64, std::string version);

  asio::awaitable<void> handle(http::Request& req, http::Exchange& ex, Upstream& upstream);
  // Shutdown: every client session ends.
  void close_sessions() { sessions_.close_all(); }
  // 2024-11-05 HTTP+SSE clients (outbound.legacy_sse_endpoint): GET /mcp/{server}/sse is the
  // client's event stream, the first event naming POST /mcp/{server}/messages?sessionId=...,
  // where each message is accepted with 202 and answered on the stream.
  asio::awaitable<void> handle_legacy_stream(http::Request& req, http::Exchange& ex, Upstream& upstream);
  asio::awaitable<void> handle_legacy_post(http::Request& req, http::Exchange& ex, Upstream& upstream,
                                           std::string session_id);

 private:
  struct Caller;  // who asks, as the methods need it
  struct ParkedCall;

  // A session upstream's question during a 2026-07-28 client's call, bridged to that
  // revision's input_required: the call goes on upstream, parked under a requestState of the
  // sidecar's; the client's retry (that requestState and its inputResponses) delivers the
  // answers and waits for what comes next.
  asio::awaitable<Result<json>> start_parked(Caller& caller, Upstream& upstream, const std::string& tool,
                                             json arguments, const std::string& case_id, TimePoint deadline,
                                             const json& progress_token);
  asio::awaitable<Result<json>> resume_parked(Caller& caller, const std::string& tool, const json& params);
  // Waits for the call's end or its next questions (then parks it and returns input_required).
  asio::awaitable<Result<json>> attend(Caller& caller, std::shared_ptr<ParkedCall> call);

  // `repeated_keys`: an object in `message` repeats a key.
  asio::awaitable<void> handle_modern(http::Request& req, http::Exchange& ex, Upstream& upstream,
                                      mcp::JsonDocument message, bool repeated_keys);
  asio::awaitable<void> handle_session(http::Request& req, http::Exchange& ex, Upstream& upstream,
                                       std::string_view session_id);
  asio::awaitable<void> initialize(http::Request& req, http::Exchange& ex, Upstream& upstream, json message);
  // A 2025-03-26 session's batch: its requests answered in one array, in order.
  asio::awaitable<void> answer_batch(http::Request& req, http::Exchange& ex, Upstream& upstream,
                                     std::shared_ptr<ClientSession> session, json batch);
  // initialize's result for a session client (the revision it will speak, the upstream's
  // capabilities), or the error to answer.
  asio::awaitable<Result<json>> initialize_result(Upstream& upstream, const json& params, bool legacy);
  // A message from a session client that is not a request (an answer to a question it was
  // asked, a notification); true when it was one.
  static bool take_non_request(ClientSession& session, const json& message);
  asio::awaitable<void> run_legacy_request(Upstream& upstream, std::shared_ptr<ClientSession> session,
                                           http::Request req, json message);
  // Answers one request of either kind of client, relaying what comes on the way.
  // `message` is a built value (session clients) or a view of the request's body (2026-07-28
  // clients), which serve() reads in place for tools/call and builds a value of otherwise.
  template <class Message>
  asio::awaitable<void> answer(Caller& caller, http::Exchange& ex, Upstream& upstream, const Message& message);

  asio::awaitable<Answer> serve(Caller& caller, Upstream& upstream, const json& message);
  asio::awaitable<Answer> serve(Caller& caller, Upstream& upstream, mcp::JsonView message);
  asio::awaitable<Answer> list_tools(Caller& caller, Upstream& upstream, const json& id);
  // `View`: mcp::JsonView, or mcp::ValueView of a built message.
  template <class View>
  asio::awaitable<Answer> call_tool(Caller& caller, Upstream& upstream, View message);
  asio::awaitable<Answer> forward(Caller& caller, Upstream& upstream, const json& message);
  // resources/subscribe and /unsubscribe of a session client, on its dedicated upstream session.
  asio::awaitable<Answer> subscription(Caller& caller, Upstream& upstream, const json& message);
  // Writes what the session queues for its client to `ex` (an open event stream) until the
  // session ends or the client leaves.
  static asio::awaitable<void> pump_stream(http::Exchange& ex, ClientSession& session);
  // Asks the session client a server-to-client request and waits for its answer.
  asio::awaitable<Result<json>> ask(Caller& caller, const std::string& method, const json& params, TimePoint deadline);
  // A 2026-07-28 upstream's input_required result, for a session client: each input request is
  // asked of the client as the server-to-client request it names; returns the retry's
  // {inputResponses, requestState}.
  asio::awaitable<Result<json>> gather_input(Caller& caller, const json& result, TimePoint deadline);
  // What the server sends during a request, passed to the caller that made it.
  // `progress_token`: the request's _meta progressToken (null: none).
  void relay_into(Caller& caller, Upstream::CallExtras& extras, json progress_token, const std::string& upstream_name);

  Answer failure(const Caller& caller, const json& id, const Error& e) const;
  // The capabilities the sidecar offers for `upstream`: what it can pass on of the upstream's.
  static json offered_capabilities(const SessionInfo& info, bool session_client);

  const config::OutboundConfig& config_;
  Metrics& metrics_;
  CallLog& calls_;
  std::function<std::uint64_t()> random64_;
  std::string version_;
  ClientSessions sessions_;
  std::map<std::string, std::shared_ptr<ParkedCall>, std::less<>> parked_;  // by requestState
};

}  // namespace mcp_sidecar::outbound

// The inbound gate: the only way MCP traffic enters the pod. For every request on every path
// (POST, GET, HEAD, DELETE, with a path as target; /mcp, and /sse + /messages for legacy servers;
// other methods 405, other targets 400): authenticate the caller, authorize each JSON-RPC request
// and notification by caller and tool (batches element by element; a denied call gets a JSON-RPC
// error and never reaches the server; a body that is not JSON-RPC, or whose objects repeat a key,
// is refused whole), forward to the local server with the verified identity in
// X-MCP-Client-Identity (any incoming copy in any spelling, X-Forwarded-Client-Cert, hop-by-hop
// headers and, unless configured, Authorization removed), and stream the answer back event by
// event, rewriting only what must change (tools/list filtered to what the caller may call).
// Logs case_id, caller, tool, outcome and duration at tool entry and exit. Single-threaded.
#pragma once

#include "config/config.hpp"
#include "http/client.hpp"
#include "http/server.hpp"
#include "inbound/auth.hpp"
#include "inbound/policy.hpp"
#include "mcp/json_document.hpp"
#include "mcp/modern.hpp"
#include "telemetry/call_log.hpp"
#include "telemetry/log.hpp"

#include <map>
#include <memory>
#include <set>
#include <unordered_set>

namespace mcp_sidecar {
class CallRecorder;
class Metrics;
}  // namespace mcp_sidecar

namespace mcp_sidecar::inbound {

class Gate {
 public:
  Gate(asio::any_io_executor ex, const config::InboundConfig& config, const config::CaseIdConfig& case_id,
       Metrics& metrics, CallLog& calls);
  ~Gate();

  asio::awaitable<void> handle(http::Request& req, http::Exchange& ex);

  Authenticator& authenticator() { return auth_; }
  void set_policy(std::shared_ptr<const Policy> policy) { policy_ = std::move(policy); }

  // "The local server accepts connections", probed every readiness_interval.
  void start();
  void stop();
  bool local_server_ready() const { return local_ready_; }
  // End of the shutdown grace period: cut forwarded exchanges still running.
  void abort_inflight() { upstream_.abort_inflight(); }
  void close() { upstream_.close_all(); }

  // Responses still owed for requests whose answer arrives on another stream
  // (legacy HTTP+SSE, or a resumed stream).
  struct Pending;

 private:
  struct Exchange;
  asio::awaitable<void> forward(http::Request& req, http::Exchange& ex, Exchange& state, std::string body);
  asio::awaitable<void> stream_events(http::Exchange& ex, http::ClientConnection& conn, http::ResponseParser& parser,
                                      Exchange& state);
  // The server's answers in `message` (one message or a batch), read in place: ends the calls
  // they answer (tools/call is accounted) and returns the callers of the tools/list results
  // among them, by id (id_key), whose tool lists the policy filters.
  std::map<std::string, std::string> settle(mcp::JsonView message, Exchange& state);
  // Filters the tools/list results of `message` for `callers` (settle's); true if it changed.
  bool filter_lists(nlohmann::json& message, const std::map<std::string, std::string>& callers);
  std::string process_event(const std::string& raw, Exchange& state);
  // The 2026-07-28 header rules (Mcp-Method, Mcp-Name, MCP-Protocol-Version agree with the
  // body), for modern requests only; nullopt when the request may pass.
  static std::optional<mcp::Refusal> check_modern(const http::Request& req, mcp::JsonView message);
  void abandon(Exchange& state);
  void park_pending(Exchange& state);
  asio::awaitable<void> probe_loop();

  asio::any_io_executor ex_;
  const config::InboundConfig& config_;
  const config::CaseIdConfig& case_id_;
  Metrics& metrics_;
  CallLog& calls_;
  Authenticator auth_;
  std::shared_ptr<const Policy> policy_;
  http::ConnectionPool upstream_;
  std::unordered_set<std::string> listed_tools_;            // names the server listed: the only tool labels
  std::map<std::string, std::shared_ptr<Pending>> parked_;  // by session key
  bool local_ready_ = false;
  bool stopping_ = false;
  Notifier probe_wake_;
  log::RateLimited warnings_;
};

}  // namespace mcp_sidecar::inbound

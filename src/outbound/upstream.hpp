// One configured upstream MCP server as the outbound role sees it: its connection pool, its
// session pool, its cached tool catalog and its in-flight bound. Calls go through here whatever
// API the application used (REST now, the MCP endpoint later). Single-threaded.
#pragma once

#include "config/config.hpp"
#include "http/client.hpp"
#include "mcp/tools.hpp"
#include "outbound/session_pool.hpp"
#include "outbound/transports.hpp"
#include "telemetry/log.hpp"
#include "tls/tls.hpp"

#include <map>
#include <memory>

namespace prometheus {
class Counter;
class Gauge;
}  // namespace prometheus

namespace mcp_sidecar {
class Metrics;
}

namespace mcp_sidecar::outbound {

class Upstream {
 public:
  Upstream(asio::any_io_executor ex, const config::OutboundConfig& outbound, const config::ServerConfig& server,
           Metrics& metrics, std::string version);
  Upstream(const Upstream&) = delete;
  Upstream& operator=(const Upstream&) = delete;

  // Loads TLS material for an https upstream; an error here stops startup.
  Result<void> load();
  // The client TLS context that follows its files, or null for plain http.
  tls::ReloadingContext* tls_context() { return tls_.get(); }

  const std::string& name() const { return server_.name; }
  const config::ServerConfig& config() const { return server_; }
  TimePoint call_deadline() const { return Clock::now() + call_timeout_; }

  // Calls `tool` with `arguments` (case_id added where configured) and returns its
  // CallToolResult, or an InputRequiredResult (2026-07-28) as the server sent it. `extras` carry
  // a caller's answer to an InputRequiredResult (inputResponses, requestState) into the params,
  // and the client capabilities the caller declares (what input requests it can answer).
  // Errors: unknown_tool, overloaded, unavailable, timeout, upstream_*.
  struct CallExtras {
    json retry = json::object();  // inputResponses and requestState of an input_required retry
    json client_capabilities = json::object();
    // What the server sends while the call runs, for a caller that relays it (the MCP
    // endpoint): notifications (progress, logging) and server-to-client requests.
    std::function<void(const json&)> on_message;
    std::function<void(const json&, Reply)> on_request;
    bool want_progress = false;  // ask for progress notifications (a progressToken of our own)
    json meta = json::object();  // more params._meta for the server (a client's logLevel)
    Cancellation* cancel = nullptr;
  };
  asio::awaitable<Result<json>> call_tool(const std::string& tool, json arguments, const std::string& case_id,
                                          TimePoint deadline, const CallExtras& extras);

  // Any other request a client may make of the server (resources/*, prompts/*,
  // completion/complete), sent on a pooled session as it is; returns the JSON-RPC response
  // (result or error). Counts against the in-flight bound like a call.
  asio::awaitable<Result<json>> request(std::string_view method, json params, const std::string& case_id,
                                        TimePoint deadline, const CallExtras& extras);

  // What the server said of itself when a session opened (capabilities, serverInfo,
  // instructions), opening one if none is ready.
  asio::awaitable<Result<SessionInfo>> server_info(TimePoint deadline);

  // A session of its own for one client whose state cannot be shared (resource
  // subscriptions), outside the pool, in the era the pool speaks. The caller closes it.
  asio::awaitable<Result<std::shared_ptr<UpstreamSession>>> open_dedicated(TimePoint deadline,
                                                                           const json& capabilities = json::object());

  // The upstream's tools, from the cache or fetched (all pages of tools/list). The cache keeps
  // a result for the server's ttlMs (2026-07-28) or outbound.tools_cache_ttl, and a result the
  // server scoped `private` only while the sidecar's credentials stay the same.
  asio::awaitable<Result<std::shared_ptr<const mcp::ToolCatalog>>> tools(TimePoint deadline);
  // The cached tools while they are fresh, else null: what tools() returns without suspending.
  std::shared_ptr<const mcp::ToolCatalog> fresh_tools() const;
  // True when the cached catalog lists `tool` (tool names become metric labels only then).
  bool lists_tool(std::string_view tool) const;

  json debug() const;
  // The era the server is spoken to in: fixed by `transport`, or what detection concluded.
  std::optional<Era> era() const;

  // Starts the heartbeat (when heartbeat_interval > 0): every interval, sessions idle for that
  // long are exercised on the real call path (ping, or the server's heartbeat tool); a failed
  // or unanswered heartbeat evicts the session before a caller meets it. Also restarts fill
  // cycles that gave up, so an unavailable server is retried without waiting for a call.
  void start();
  // Stops the heartbeat and waits (up to `deadline`) for a beat in progress.
  asio::awaitable<void> stop(TimePoint deadline);

  // End of the shutdown grace period: exchanges still in flight are cut (their callers get
  // `cancelled`); sessions stay open for close().
  void abort_inflight() { connections_.abort_inflight(); }
  // Closes every session (DELETE) and the connections.
  asio::awaitable<void> close(TimePoint deadline);

 private:
  // Sends a request on a pooled session, evicting dead sessions and resending when the failure
  // provably never reached the server (or options.idempotent says the method may run twice).
  asio::awaitable<Result<json>> rpc(std::string_view method, const json& params, const RpcOptions& options);
  asio::awaitable<Result<std::shared_ptr<const mcp::ToolCatalog>>> refresh_tools(TimePoint deadline);
  asio::awaitable<void> heartbeat_loop();
  asio::awaitable<void> beat(std::shared_ptr<PooledSession> pooled);
  // 2026-07-28: a subscriptions/listen stream for notifications/tools/list_changed, so a changed
  // tool list is fetched again at once instead of at the end of its ttlMs. Started after the
  // first tool list from a server that declares tools.listChanged; exempt from the call timeout;
  // listened again (with backoff) whenever it ends.
  void maybe_listen();
  asio::awaitable<void> listen_loop();
  SessionFactory session_factory();
  // Every connection attempt to the upstream (metrics); retry.max_attempts failures in a row,
  // whoever made them, make the pool unavailable.
  void connected(std::string_view outcome, const Error* failure, TimePoint started);
  void show_era(std::optional<Era> era);
  // Mcp-Param-* headers for the x-mcp-header parameters of a tool (2026-07-28).
  static std::vector<std::pair<std::string, std::string>> param_headers(const mcp::ToolInfo& tool,
                                                                        const json& arguments);
  // Who the sidecar is to this upstream right now (bearer token, client certificate context).
  std::shared_ptr<const void> credentials() const;
  bool catalog_fresh() const;
  // Counts a call or request in flight; empty when the in-flight bound is reached.
  std::optional<std::shared_ptr<void>> admit();
  void relay_into(RpcOptions& options, json& params, const CallExtras& extras);

  asio::any_io_executor ex_;
  const config::OutboundConfig& outbound_;
  const config::ServerConfig& server_;
  Metrics& metrics_;
  milliseconds call_timeout_;
  TransportSettings settings_;
  EraVerdict verdict_;
  std::unique_ptr<tls::ReloadingContext> tls_;
  http::ConnectionPool connections_;
  SessionPool sessions_;
  int inflight_ = 0;
  int connect_failures_ = 0;  // in a row, of attempts begun since the upstream was last reached
  TimePoint reached_at_{};    // when a connection to it was last made
  std::uint64_t progress_tokens_ = 0;
  prometheus::Gauge& inflight_gauge_;
  prometheus::Counter& retries_;
  prometheus::Counter& fast_fails_;
  prometheus::Counter& cancellations_;

  bool stopping_ = false;
  bool heartbeat_running_ = false;
  bool listening_ = false;  // listen_loop() is running
  prometheus::Gauge& listen_gauge_;
  prometheus::Counter& list_changed_;
  Notifier heartbeat_wake_;
  log::RateLimited warnings_;

  std::shared_ptr<const mcp::ToolCatalog> catalog_;
  TimePoint catalog_at_{};
  std::shared_ptr<const void> catalog_credentials_;  // kept alive so the identity cannot be reused
  bool refreshing_ = false;
  std::uint64_t refresh_generation_ = 0;
  std::optional<Error> refresh_error_;
  Notifier refreshed_;

  // Session-era upstreams decide what they may ask by the capabilities declared at initialize:
  // calls of clients that can answer server requests travel on sessions declaring exactly
  // those capabilities, one per distinct set (bounded), never on the pool's.
  asio::awaitable<Result<std::shared_ptr<UpstreamSession>>> capable_session(const json& capabilities,
                                                                            TimePoint deadline);
  // Sends on the session `extras` calls for, else on the pool.
  asio::awaitable<Result<json>> send(std::string_view method, const json& params, const RpcOptions& options,
                                     const CallExtras& extras);
  asio::awaitable<Result<json>> send_capable(std::string_view method, const json& params, const RpcOptions& options,
                                             const CallExtras& extras);
  std::map<std::string, TransportSettings> capable_settings_;  // by capability set; outlive sessions
  std::map<std::string, std::shared_ptr<UpstreamSession>> capable_;
};

}  // namespace mcp_sidecar::outbound

// The outbound role: beside an MCP client, a local endpoint for the application and, per
// configured server, an Upstream with its pools. main() wires it; nothing else depends on it.
#pragma once

#include "config/config.hpp"
#include "http/server.hpp"
#include "outbound/api.hpp"
#include "outbound/upstream.hpp"

#include <memory>
#include <vector>

namespace mcp_sidecar::outbound {

class Outbound {
 public:
  Outbound(asio::any_io_executor ex, const config::Config& config, Metrics& metrics, CallLog& calls,
           std::string version);

  // Loads TLS material, then binds the listener.
  Result<void> listen();
  // The TLS contexts of https upstreams, for the file watcher.
  std::vector<tls::ReloadingContext*> tls_contexts();
  void start() {
    server_.start();
    for (auto& u : upstreams_) u->start();
  }
  asio::ip::tcp::endpoint local_endpoint() const { return server_.local_endpoint(); }

  // For /debug/pools.
  json debug_pools() const;

  // Shutdown, in order: stop_accepting(), drain(), wait_idle(grace), cancel_inflight(),
  // wait_idle(short), close(deadline).
  void stop_accepting() { server_.stop_accepting(); }
  void drain() { server_.drain(); }
  asio::awaitable<void> wait_idle(TimePoint deadline) { co_await server_.wait_closed(deadline); }
  void cancel_inflight() {
    for (auto& u : upstreams_) u->abort_inflight();
  }
  std::size_t connections() const { return server_.connections(); }
  asio::awaitable<void> close(TimePoint deadline);

 private:
  const config::Config& config_;
  std::vector<std::unique_ptr<Upstream>> upstreams_;
  Api api_;
  http::Server server_;
};

}  // namespace mcp_sidecar::outbound

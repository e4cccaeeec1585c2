// The inbound role: beside an MCP server, the gate on the pod's exposed port (plain or TLS),
// its bearer tokens and serving certificate (both re-read when their files change), and the
// readiness check "the local server accepts connections". main() wires it.
#pragma once

#include "config/config.hpp"
#include "http/server.hpp"
#include "inbound/gate.hpp"
#include "tls/tls.hpp"

#include <memory>

namespace mcp_sidecar::inbound {

class Inbound {
 public:
  Inbound(asio::any_io_executor ex, const config::Config& config, Metrics& metrics, CallLog& calls);

  // Tokens and TLS material, then the listener. An error stops startup.
  Result<void> listen();
  void start();
  asio::ip::tcp::endpoint local_endpoint() const { return server_.local_endpoint(); }

  bool ready(std::string& why) const;
  // Re-reads the tokens file if it changed (called by the file watcher). A bad file keeps the
  // tokens in use.
  void check_tokens();
  tls::ReloadingContext* tls_context() { return tls_.get(); }
  // A new configuration's live parts (the policy); the rest needs a restart.
  void apply(const config::InboundConfig& next);

  void stop_accepting() { server_.stop_accepting(); }
  void drain() { server_.drain(); }
  asio::awaitable<void> wait_idle(TimePoint deadline) { co_await server_.wait_closed(deadline); }
  std::size_t connections() const { return server_.connections(); }
  void cancel_inflight() { gate_.abort_inflight(); }
  void close();

 private:
  Result<void> load_tokens();
  static std::string tls_signature(const config::InboundConfig& config);
  static std::pair<std::vector<std::string>, tls::ReloadingContext::Builder> tls_material(
      const config::InboundConfig& config);

  const config::InboundConfig& config_;
  Metrics& metrics_;
  Gate gate_;
  std::unique_ptr<tls::ReloadingContext> tls_;
  http::Server server_;
  std::string tokens_stamp_;
  // Live settings (a configuration reload changes them): the start-up values at first.
  std::string tokens_file_;
  config::AuthMode mode_;
  std::string tls_signature_;
};

}  // namespace mcp_sidecar::inbound

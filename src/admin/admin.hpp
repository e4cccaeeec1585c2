// The admin role: probes, metrics and debug views on their own listener.
//   GET /healthz                  200 while the process serves (liveness)
//   GET /readyz                   200 when ready, 503 with the failing checks otherwise
//   GET /metrics                  Prometheus text exposition (version 0.0.4)
//   GET /debug/pools              upstream sessions per server: state, age, in-flight   (loopback only)
//   GET /debug/config             the effective configuration, secrets redacted         (loopback only)
//   GET /debug/calls?case_id=ID   the recent calls of one case, never their arguments  (loopback only)
//   GET /debug/log-level          the log level; PUT/POST ?level=debug changes it       (loopback only)
// Debug views answer loopback peers only: that is how `kubectl port-forward` arrives, while
// probes and scrapes come from the pod network. Roles plug their views in as functions, so the
// admin role depends on no other role.
#pragma once

#include "config/config.hpp"
#include "http/server.hpp"
#include "telemetry/call_log.hpp"

#include <functional>
#include <map>
#include <string>

namespace mcp_sidecar::admin {

// Readiness: not ready while shutting down or while any named check fails.
class Health {
 public:
  using Check = std::function<bool(std::string& why)>;
  void add_check(std::string name, Check check) { checks_.emplace(std::move(name), std::move(check)); }
  void set_shutting_down() { shutting_down_ = true; }
  bool shutting_down() const { return shutting_down_; }
  // True when ready; otherwise `failing` names what is not.
  bool ready(nlohmann::json& failing) const;

 private:
  bool shutting_down_ = false;
  std::map<std::string, Check> checks_;
};

class Admin {
 public:
  using View = std::function<nlohmann::json()>;

  Admin(asio::any_io_executor ex, const config::AdminConfig& config, Metrics& metrics, CallLog& calls, Health& health);

  // A debug view served at /debug/<name> (loopback only).
  void add_view(std::string name, View view) { views_.emplace(std::move(name), std::move(view)); }

  Result<void> listen() { return server_.listen(config_.listen); }
  void start() { server_.start(); }
  asio::ip::tcp::endpoint local_endpoint() const { return server_.local_endpoint(); }
  void stop() {
    server_.stop_accepting();
    server_.close_all();
  }

 private:
  asio::awaitable<void> handle(http::Request& req, http::Exchange& ex);
  http::Response answer(const http::Request& req, const asio::ip::tcp::endpoint& remote);

  const config::AdminConfig& config_;
  Metrics& metrics_;
  CallLog& calls_;
  Health& health_;
  std::map<std::string, View, std::less<>> views_;
  http::Server server_;
};

}  // namespace mcp_sidecar::admin

// The injector's role: the mutating admission webhook (docs/injection.md) on its own HTTPS
// listener (inject.listen):
//   POST /inject   an AdmissionReview v1 (at most inject.max_review_bytes, else 413) -> review.hpp
// Its serving certificate is a ReloadingContext that main's file watcher checks, as for the
// inbound gate. Each review is counted (mcp_sidecar_inject_reviews_total{outcome}, its duration
// in mcp_sidecar_inject_review_duration_seconds) and logged by uid, kind, namespace and outcome,
// never with the object. Runs on one executor.
#pragma once

#include "config/config.hpp"
#include "http/server.hpp"
#include "inject/inject.hpp"
#include "tls/tls.hpp"

#include <memory>

namespace mcp_sidecar::inject {

class Webhook {
 public:
  Webhook(asio::any_io_executor ex, const config::InjectConfig& config, Metrics& metrics);

  // Loads the serving certificate, then binds. An error stops startup.
  Result<void> listen();
  void start() { server_.start(); }
  asio::ip::tcp::endpoint local_endpoint() const { return server_.local_endpoint(); }
  tls::ReloadingContext* tls_context() { return &tls_; }

  void stop_accepting() { server_.stop_accepting(); }
  void drain() { server_.drain(); }
  asio::awaitable<void> wait_idle(TimePoint deadline) { co_await server_.wait_closed(deadline); }
  std::size_t connections() const { return server_.connections(); }
  void close() { server_.close_all(); }

 private:
  asio::awaitable<void> handle(http::Request& req, http::Exchange& exchange);
  http::Response answer(const http::Request& req);

  const config::InjectConfig& config_;
  Metrics& metrics_;
  Settings settings_;
  tls::ReloadingContext tls_;
  http::Server server_;
};

}  // namespace mcp_sidecar::inject

#include "inject/webhook.hpp"

#include "inject/review.hpp"
#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"

#include <boost/url/parse.hpp>

namespace mcp_sidecar::inject {

namespace bhttp = boost::beast::http;

Webhook::Webhook(asio::any_io_executor ex, const config::InjectConfig& config, Metrics& metrics)
    : config_(config),
      metrics_(metrics),
      settings_{config.image},
      tls_("inject", {config.cert_file, config.key_file},
           [files = tls::ServerFiles{config.cert_file, config.key_file, "", false}] {
             return tls::make_server_context(files);
           }),
      server_(
          ex, "inject", config.limits,
          [this](http::Request& req, http::Exchange& exchange) { return handle(req, exchange); }, metrics) {
  // Every outcome from the start, at 0, so rates and alerts have a series before the first review.
  for (const char* outcome : {"injected", "unchanged", "denied", "invalid"})
    metrics.inject_reviews_total.Add({{"outcome", outcome}});
  metrics.inject_review_duration_seconds.Add({}, Metrics::duration_buckets());
}

Result<void> Webhook::listen() {
  if (auto r = tls_.load(); !r) return make_error(ErrorCode::internal, "inject TLS: " + r.error().message);
  server_.use_tls([this] { return tls_.current(); });
  return server_.listen(config_.listen);
}

asio::awaitable<void> Webhook::handle(http::Request& req, http::Exchange& exchange) {
  co_await exchange.respond(answer(req));
}

http::Response Webhook::answer(const http::Request& req) {
  const unsigned version = req.version();
  auto error = [&](ErrorCode code, std::string message) {
    return http::make_json_response(http_status(code), error_body({code, std::move(message)}), version);
  };
  auto target = boost::urls::parse_origin_form(req.target());
  if (!target || target->path() != "/inject") return error(ErrorCode::not_found, "the webhook serves POST /inject");
  if (req.method() != bhttp::verb::post) return error(ErrorCode::method_not_allowed, "use POST");

  const auto start = Clock::now();
  ReviewAnswer a = review(req.body(), settings_);
  const std::chrono::duration<double> took = Clock::now() - start;
  metrics_.inject_reviews_total.Add({{"outcome", std::string(a.outcome)}}).Increment();
  metrics_.inject_review_duration_seconds.Add({}, Metrics::duration_buckets()).Observe(took.count());
  a.fields["outcome"] = a.outcome;
  a.fields["duration_ms"] = took.count() * 1000.0;
  if (a.outcome == "invalid")
    log::warn("inject_review", a.fields);
  else
    log::info("inject_review", a.fields);
  return http::make_json_response(a.status, a.body, version);
}

}  // namespace mcp_sidecar::inject

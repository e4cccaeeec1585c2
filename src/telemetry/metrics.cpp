#include "telemetry/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace mcp_sidecar {

namespace {
template <class Builder>
auto& family(Builder&& b, prometheus::Registry& r, const char* name, const char* help) {
  return b.Name(name).Help(help).Register(r);
}
}  // namespace

const prometheus::Histogram::BucketBoundaries& Metrics::duration_buckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return kBuckets;
}

void* Metrics::cached(const void* family, LabelValues labels, std::string& key) {
  key.assign(reinterpret_cast<const char*>(&family), sizeof family);
  for (const auto& [name, value] : labels) {
    key += value;
    key += '\0';
  }
  auto it = series_.find(key);
  return it == series_.end() ? nullptr : it->second;
}

namespace {
prometheus::Labels label_map(Metrics::LabelValues labels) {
  prometheus::Labels out;
  for (const auto& [name, value] : labels) out.emplace(std::string(name), std::string(value));
  return out;
}
}  // namespace

prometheus::Counter& Metrics::counter(prometheus::Family<prometheus::Counter>& family, LabelValues labels) {
  static thread_local std::string key;
  if (void* hit = cached(&family, labels, key)) return *static_cast<prometheus::Counter*>(hit);
  auto& child = family.Add(label_map(labels));
  series_.emplace(key, &child);
  return child;
}

prometheus::Histogram& Metrics::histogram(prometheus::Family<prometheus::Histogram>& family, LabelValues labels,
                                          const prometheus::Histogram::BucketBoundaries& buckets) {
  static thread_local std::string key;
  if (void* hit = cached(&family, labels, key)) return *static_cast<prometheus::Histogram*>(hit);
  auto& child = family.Add(label_map(labels), buckets);
  series_.emplace(key, &child);
  return child;
}

Metrics::Metrics(const std::string& version)
    : registry_(std::make_shared<prometheus::Registry>()),
      calls_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_calls_total",
                         "MCP calls handled, by direction, server, JSON-RPC method, tool and outcome.")),
      call_duration_seconds(family(prometheus::BuildHistogram(), *registry_, "mcp_sidecar_call_duration_seconds",
                                   "Duration of MCP calls as the caller saw them.")),
      inflight_calls(
          family(prometheus::BuildGauge(), *registry_, "mcp_sidecar_inflight_calls", "MCP calls in flight now.")),
      pool_sessions(family(prometheus::BuildGauge(), *registry_, "mcp_sidecar_pool_sessions",
                           "Upstream sessions per server by state.")),
      session_opens_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_session_opens_total",
                                 "Attempts to open an upstream session, by outcome.")),
      session_evictions_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_session_evictions_total",
                                     "Upstream sessions evicted from their pool, by reason.")),
      heartbeats_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_heartbeats_total",
                              "Heartbeats sent on idle upstream sessions, by outcome.")),
      retries_total(
          family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_retries_total",
                 "Calls sent again because the first attempt provably never reached the server or was safe.")),
      stream_resumptions_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_stream_resumptions_total",
                                      "Upstream response streams resumed with GET and Last-Event-ID.")),
      upstream_cancellations_total(family(prometheus::BuildCounter(), *registry_,
                                          "mcp_sidecar_upstream_cancellations_total",
                                          "Requests abandoned at their deadline and cancelled upstream.")),
      fast_fails_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_fast_fails_total",
                              "Calls refused at once (server unavailable or saturated) instead of queueing.")),
      upstream_era(family(prometheus::BuildGauge(), *registry_, "mcp_sidecar_upstream_era",
                          "1 for the MCP transport era each upstream is spoken to in.")),
      era_detections_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_era_detections_total",
                                  "Transport eras concluded by automatic detection, per upstream.")),
      tools_list_fetches_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_tools_list_fetches_total",
                                      "tools/list fetched from an upstream (cache misses and expiries).")),
      upstream_listening(family(prometheus::BuildGauge(), *registry_, "mcp_sidecar_upstream_listening",
                                "1 while a subscriptions/listen stream to the upstream is open.")),
      upstream_notifications_total(family(prometheus::BuildCounter(), *registry_,
                                          "mcp_sidecar_upstream_notifications_total",
                                          "Change notifications received from upstreams, by method.")),
      client_sessions(family(prometheus::BuildGauge(), *registry_, "mcp_sidecar_client_sessions",
                             "MCP endpoint sessions held for clients of the session revisions.")),
      client_session_events_total(family(prometheus::BuildCounter(), *registry_,
                                         "mcp_sidecar_client_session_events_total",
                                         "MCP endpoint client sessions opened, deleted, expired or refused.")),
      server_requests_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_server_requests_total",
                                   "Server-to-client requests relayed to the client that caused them, or refused.")),
      upstream_connections_total(family(prometheus::BuildCounter(), *registry_,
                                        "mcp_sidecar_upstream_connections_total",
                                        "Upstream TCP connections opened, by outcome.")),
      connections(family(prometheus::BuildGauge(), *registry_, "mcp_sidecar_connections",
                         "Downstream connections open now, by listener.")),
      http_rejections_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_http_rejections_total",
                                   "Downstream requests refused by a listener's bounds, by reason.")),
      tls_handshakes_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_tls_handshakes_total",
                                  "TLS handshakes on a listener, by outcome (refusals by reason).")),
      plaintext_connections_total(family(prometheus::BuildCounter(), *registry_,
                                         "mcp_sidecar_plaintext_connections_total",
                                         "Plain-HTTP connections accepted by a TLS listener open to them.")),
      auth_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_auth_total",
                        "Authentication decisions, by method and outcome.")),
      authz_denied_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_authz_denied_total",
                                "Requests the inbound policy refused (each batch element counts).")),
      cert_expiry_timestamp_seconds(family(prometheus::BuildGauge(), *registry_,
                                           "mcp_sidecar_cert_expiry_timestamp_seconds",
                                           "notAfter of each certificate in use, Unix seconds.")),
      config_reloads_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_config_reloads_total",
                                  "Re-reads of the configuration file, by outcome.")),
      file_reloads_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_file_reloads_total",
                                "Re-reads of certificates, keys, CA bundles and token files, by outcome.")),
      auth_disabled(family(prometheus::BuildGauge(), *registry_, "mcp_sidecar_auth_disabled",
                           "1 when traffic to or from that server carries no credentials (development mode).")),
      inject_reviews_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_inject_reviews_total",
                                  "AdmissionReviews the sidecar injector answered, by outcome.")),
      inject_review_duration_seconds(family(prometheus::BuildHistogram(), *registry_,
                                            "mcp_sidecar_inject_review_duration_seconds",
                                            "Time to answer one AdmissionReview (parse, mutate, patch).")),
      log_suppressed_total(family(prometheus::BuildCounter(), *registry_, "mcp_sidecar_log_suppressed_total",
                                  "Repeated warning lines not written because of rate limiting.")),
      build_info(family(prometheus::BuildGauge(), *registry_, "mcp_sidecar_build_info",
                        "Build information; the value is always 1.")) {
  build_info.Add({{"version", version}}).Set(1);
  log_suppressed_total.Add({});
}

std::string Metrics::serialize() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

}  // namespace mcp_sidecar

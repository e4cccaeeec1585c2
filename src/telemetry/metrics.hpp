// Every metric family the sidecar exports, declared in one list (like Envoy's stats macros), on
// one prometheus-cpp registry that the admin server serializes. Label sets are bounded: never a
// case id, session id or caller-supplied string; tool names only when the upstream listed them.
// prometheus-cpp metrics are thread-safe; hot paths cache the child metric, not the family.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace mcp_sidecar {

class Metrics {
 public:
  explicit Metrics(const std::string& version);
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The Prometheus text exposition of everything registered.
  std::string serialize() const;
  static const prometheus::Histogram::BucketBoundaries& duration_buckets();

  // Family::Add builds a label map, hashes it and takes a lock on every call: per-call paths look
  // their child up here instead, by the label values in the family's label order (the names are
  // only used the first time). The cache holds what the family holds: bounded label sets.
  using LabelValues = std::initializer_list<std::pair<std::string_view, std::string_view>>;
  prometheus::Counter& counter(prometheus::Family<prometheus::Counter>& family, LabelValues labels);
  prometheus::Histogram& histogram(prometheus::Family<prometheus::Histogram>& family, LabelValues labels,
                                   const prometheus::Histogram::BucketBoundaries& buckets);

 private:
  void* cached(const void* family, LabelValues labels, std::string& key);
  std::shared_ptr<prometheus::Registry> registry_;
  std::unordered_map<std::string, void*> series_;  // family address + label values -> child

 public:
  // {direction=outbound|inbound, server, method, tool, outcome}
  prometheus::Family<prometheus::Counter>& calls_total;
  // {direction, server, method, tool}; 100 us .. 60 s
  prometheus::Family<prometheus::Histogram>& call_duration_seconds;
  // {direction, server}
  prometheus::Family<prometheus::Gauge>& inflight_calls;
  // {server, state=opening|ready|backoff|failed}
  prometheus::Family<prometheus::Gauge>& pool_sessions;
  // {server, outcome=ok|error}
  prometheus::Family<prometheus::Counter>& session_opens_total;
  // {server, reason=session_gone|transport|heartbeat|shutdown}
  prometheus::Family<prometheus::Counter>& session_evictions_total;
  // {server, outcome=ok|error|slow}
  prometheus::Family<prometheus::Counter>& heartbeats_total;
  // {server}
  prometheus::Family<prometheus::Counter>& retries_total;
  // {server}: request streams resumed with GET + Last-Event-ID
  prometheus::Family<prometheus::Counter>& stream_resumptions_total;
  // {server}: requests abandoned at their deadline and cancelled upstream
  prometheus::Family<prometheus::Counter>& upstream_cancellations_total;
  // {server}: calls refused at once because the server is unavailable or saturated
  prometheus::Family<prometheus::Counter>& fast_fails_total;
  // {server, era=stateless|streamable-http|sse}: 1 for the transport the server is spoken to in
  prometheus::Family<prometheus::Gauge>& upstream_era;
  // {server, era}: conclusions of transport: auto (a new one after the server contradicted the last)
  prometheus::Family<prometheus::Counter>& era_detections_total;
  // {server}: tools/list fetched from the upstream (the cache missed, expired or was told of a change)
  prometheus::Family<prometheus::Counter>& tools_list_fetches_total;
  // {server}: 1 while a 2026-07-28 subscriptions/listen stream to the upstream is open
  prometheus::Family<prometheus::Gauge>& upstream_listening;
  // {server, method}: change notifications received from the upstream (tools/list_changed)
  prometheus::Family<prometheus::Counter>& upstream_notifications_total;
  // MCP endpoint sessions held for clients of the session revisions
  prometheus::Family<prometheus::Gauge>& client_sessions;
  // {event=opened|deleted|expired|refused}: their life (refused = the max_client_sessions bound)
  prometheus::Family<prometheus::Counter>& client_session_events_total;
  // {server, outcome=relayed|refused}: server-to-client requests (sampling, elicitation, roots,
  // and 2026-07-28 input requests bridged to session clients) passed to a client, or refused
  // because no client could answer them
  prometheus::Family<prometheus::Counter>& server_requests_total;
  // {server}: upstream connections opened
  prometheus::Family<prometheus::Counter>& upstream_connections_total;
  // {listener}: downstream connections open now
  prometheus::Family<prometheus::Gauge>& connections;
  // {listener, reason=max_connections|body_too_large|headers_too_large|bad_request|timeout}
  prometheus::Family<prometheus::Counter>& http_rejections_total;
  // {listener, outcome=ok|resumed|no_certificate|unknown_ca|expired|not_yet_valid|bad_certificate|handshake}
  prometheus::Family<prometheus::Counter>& tls_handshakes_total;
  // {listener}: plain-HTTP connections a TLS listener accepted (inbound.auth.tls.accept_plaintext)
  prometheus::Family<prometheus::Counter>& plaintext_connections_total;
  // {method=bearer|mtls|none, outcome=ok|denied|disabled}
  prometheus::Family<prometheus::Counter>& auth_total;
  // {server}: requests the inbound policy refused (each element of a batch counts)
  prometheus::Family<prometheus::Counter>& authz_denied_total;
  // {cert}: notAfter of every certificate in use, Unix seconds
  prometheus::Family<prometheus::Gauge>& cert_expiry_timestamp_seconds;
  // {outcome=ok|error|unchanged}: re-reads of the configuration file
  prometheus::Family<prometheus::Counter>& config_reloads_total;
  // {file=<tls context>|tokens, outcome=ok|error}: re-reads of certificates, keys, CA bundles, tokens
  prometheus::Family<prometheus::Counter>& file_reloads_total;
  // {direction, server}: 1 when traffic to/from that server carries no credentials
  prometheus::Family<prometheus::Gauge>& auth_disabled;
  // {outcome=injected|unchanged|denied|invalid}: AdmissionReviews the injector webhook answered
  prometheus::Family<prometheus::Counter>& inject_reviews_total;
  // {}: how long answering one took (parse, mutate, patch)
  prometheus::Family<prometheus::Histogram>& inject_review_duration_seconds;
  // {}: warning lines not written because of rate limiting
  prometheus::Family<prometheus::Counter>& log_suppressed_total;
  // {version}
  prometheus::Family<prometheus::Gauge>& build_info;
};

}  // namespace mcp_sidecar

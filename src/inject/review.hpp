// The webhook's protocol, without sockets: an AdmissionReview (admission.k8s.io/v1) body in, the
// answer out. An annotated object gets allowed: true and its JSONPatch (RFC 6902, base64); one
// left alone (unannotated, "false", already injected, a DELETE, a subresource, a Pod UPDATE: its
// containers cannot change) allowed: true and no patch; a bad annotation allowed: false with the
// engine's message (HTTP 200, as the API server expects); a body that is not an AdmissionReview
// v1 a 400 with a JSON error. Pure.
#pragma once

#include "inject/inject.hpp"

#include <nlohmann/json.hpp>

#include <string_view>

namespace mcp_sidecar::inject {

struct ReviewAnswer {
  unsigned status = 200;
  nlohmann::json body;       // the AdmissionReview with its response, or {"error": {...}} for a 400
  std::string_view outcome;  // injected | unchanged | denied | invalid (mcp_sidecar_inject_reviews_total)
  // For the log line: uid, kind, namespace, operation, and the reason when denied or invalid.
  // Never the object: a pod's env may carry secrets.
  nlohmann::json fields = nlohmann::json::object();
};

ReviewAnswer review(std::string_view body, const Settings& settings);

}  // namespace mcp_sidecar::inject

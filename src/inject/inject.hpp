// src/inject/: the sidecar injector (docs/injection.md). One mutation engine, two faces:
//   inject.hpp     the engine: one Kubernetes object in, the same object with the sidecar added to
//                  its annotated pod template out (pure)
//   yaml.hpp       Kubernetes YAML <-> JSON, values and types kept (pure)
//   manifests.hpp  `mcp-sidecar inject -f FILE`: YAML streams and Lists through the engine (pure)
//   review.hpp     AdmissionReview v1 in, the answer with its JSONPatch out (pure)
//   webhook.hpp    the role: the HTTPS listener serving POST /inject, with its metrics and logs
//
// This file: the engine. It finds the pod template (Pod; Deployment, StatefulSet, DaemonSet,
// ReplicaSet, Job: spec.template; CronJob: spec.jobTemplate.spec.template), reads the
// mcp-sidecar.io/* annotations of the template's metadata, validates every value, and adds the
// sidecar container, its volumes and settings. Everything it writes comes from validated
// annotations, the validated settings or the object itself. No state: thread-safe.
#pragma once

#include "core/result.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace mcp_sidecar::inject {

inline constexpr std::string_view kAnnotationPrefix = "mcp-sidecar.io/";
inline constexpr std::string_view kInjectAnnotation = "mcp-sidecar.io/inject";
inline constexpr std::string_view kContainerName = "mcp-sidecar";
// The sidecar's drain with the default shutdown settings (delay 5 + grace 20 + close 5 s) plus 5 s
// for the app, as the chart computes terminationGracePeriodSeconds.
inline constexpr int kMinGraceSeconds = 35;

struct Settings {
  // The sidecar image unless a pod's mcp-sidecar.io/image says otherwise; the caller validated it
  // (config::valid_image_reference).
  std::string image;
};

// Which API type an object is: group ("" for the core group, "apps", "batch", ...) and kind.
struct ObjectType {
  std::string group;
  std::string kind;
};
// From the object's apiVersion ("apps/v1" -> "apps", "v1" -> "") and kind; empty when missing.
ObjectType type_of(const nlohmann::json& object);

struct Injection {
  nlohmann::json object;  // the object, with the sidecar when `injected`
  bool injected = false;
};

// The object with the sidecar added to its pod template when the template is annotated
// mcp-sidecar.io/inject: "true". Unchanged (injected = false) when the type has no pod template,
// the annotation is absent or "false", or the template already has a container or init container
// named mcp-sidecar. An error (bad_request) says which annotation is wrong and why.
Result<Injection> inject(nlohmann::json object, const ObjectType& type, const Settings& settings);
inline Result<Injection> inject(nlohmann::json object, const Settings& settings) {
  auto type = type_of(object);
  return inject(std::move(object), type, settings);
}

}  // namespace mcp_sidecar::inject

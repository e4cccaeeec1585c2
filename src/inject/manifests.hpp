// `mcp-sidecar inject -f FILE`: a stream of Kubernetes YAML documents through the engine. Each
// document, and each item of a List (kind List, or PodList, DeploymentList, ...), is injected on
// its own; the engine's change is applied as the same RFC 6902 patch the webhook would send, so
// every field it does not own keeps its value, type and key order. Pure.
#pragma once

#include "inject/inject.hpp"

#include <string>
#include <string_view>

namespace mcp_sidecar::inject {

struct Manifests {
  std::string yaml;  // the documents written back ("---" between them; empty documents dropped)
  int objects = 0;   // objects read (List items counted one by one)
  int injected = 0;  // of which got the sidecar
};

// The whole stream, or every error found (one per line, each naming the document, its first line,
// the object and the annotation); nothing is written when any object fails.
Result<Manifests> inject_manifests(std::string_view text, const Settings& settings);

}  // namespace mcp_sidecar::inject

// `mcp-sidecar inject -f`: YAML streams through the engine.
#include "inject/manifests.hpp"

#include "inject/yaml.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar::inject {
namespace {

const Settings kSettings{"mcp-sidecar:0.1.0"};

const char* kDeployment = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations:
        mcp-sidecar.io/inject: "true"
        mcp-sidecar.io/role: inbound
    spec:
      containers:
      - name: app
        image: web:1
        ports:
        - name: mcp
          containerPort: 8000
        env:
        - {name: DEBUG, value: "true"}
        - {name: PORT, value: "8080"}
        - {name: MODE, value: "0755"}
)";

const char* kService = R"(apiVersion: v1
kind: Service
metadata:
  name: web
  annotations:
    mcp-sidecar.io/inject: "true"
    checksum: "0755"
spec:
  ports:
  - port: 443
    targetPort: mcp
    nodePort: 30443
  sessionAffinityConfig:
    clientIP: {timeoutSeconds: 10800}
  weird: [yes, "yes", 1.50, ~, 0x10]
)";

Manifests run(const std::string& text) {
  auto r = inject_manifests(text, kSettings);
  EXPECT_TRUE(r) << r.error().message;
  return r ? *r : Manifests{};
}

std::vector<Ordered> values(const std::string& text) {
  std::vector<Ordered> out;
  auto docs = read_yaml(text);
  EXPECT_TRUE(docs);
  if (docs)
    for (auto& d : *docs) out.push_back(d.value);
  return out;
}

TEST(Manifests, InjectsAnnotatedTemplatesAndPassesOtherObjectsThrough) {
  auto m = run(std::string(kDeployment) + "---\n" + kService);
  EXPECT_EQ(m.objects, 2);
  EXPECT_EQ(m.injected, 1);
  auto out = values(m.yaml);
  ASSERT_EQ(out.size(), 2u);
  const auto& spec = out[0]["spec"]["template"]["spec"];
  EXPECT_EQ(spec["initContainers"][0]["name"], "mcp-sidecar");
  EXPECT_EQ(spec["initContainers"][0]["ports"][0]["name"], "mcp");
  EXPECT_FALSE(spec["containers"][0].contains("ports"));
  // Fields the injection does not own keep their values and types.
  EXPECT_EQ(spec["containers"][0]["env"], values(kDeployment)[0]["spec"]["template"]["spec"]["containers"][0]["env"]);
  EXPECT_EQ(out[0]["spec"]["selector"], Ordered::parse(R"({"matchLabels": {"app": "web"}})"));
  EXPECT_EQ(out[1], values(kService)[0]);
  EXPECT_EQ(out[1].dump(), values(kService)[0].dump()) << "key order";
}

TEST(Manifests, AnObjectNotInjectedRoundTripsWithItsTypes) {
  auto m = run(kService);
  EXPECT_EQ(m.injected, 0);
  auto out = values(m.yaml);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["metadata"]["annotations"]["mcp-sidecar.io/inject"], "true");
  EXPECT_EQ(out[0]["metadata"]["annotations"]["checksum"], "0755");
  EXPECT_EQ(out[0]["spec"]["ports"][0]["port"], 443);
  EXPECT_TRUE(out[0]["spec"]["ports"][0]["port"].is_number_integer());
  EXPECT_EQ(out[0]["spec"]["weird"], Ordered::parse(R"([true, "yes", 1.5, null, 16])"));
}

TEST(Manifests, InjectingTheOutputAgainChangesNothing) {
  auto once = run(std::string(kDeployment) + "---\n" + kService);
  auto twice = run(once.yaml);
  EXPECT_EQ(twice.injected, 0);
  EXPECT_EQ(twice.yaml, once.yaml);
}

TEST(Manifests, InjectsEachItemOfAList) {
  std::string list = "apiVersion: v1\nkind: List\nitems:\n";
  for (const auto* doc : {kDeployment, kService}) {
    bool first = true;
    std::string text(doc);
    for (std::size_t pos = 0; pos < text.size();) {
      auto nl = text.find('\n', pos);
      list += (first ? "- " : "  ") + text.substr(pos, nl - pos) + "\n";
      first = false;
      pos = nl + 1;
    }
  }
  auto m = run(list);
  EXPECT_EQ(m.objects, 2);
  EXPECT_EQ(m.injected, 1);
  auto out = values(m.yaml);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["items"][0]["spec"]["template"]["spec"]["initContainers"][0]["name"], "mcp-sidecar");
  EXPECT_EQ(out[0]["items"][1], values(kService)[0]);
}

TEST(Manifests, ItemsOfATypedListTakeTheListsKind) {
  auto m = run(R"(apiVersion: v1
kind: PodList
items:
- metadata:
    name: p
    annotations: {mcp-sidecar.io/inject: "true"}
  spec:
    containers: [{name: app, image: a:1}]
)");
  EXPECT_EQ(m.injected, 1);
  EXPECT_EQ(values(m.yaml)[0]["items"][0]["spec"]["initContainers"][0]["name"], "mcp-sidecar");
}

TEST(Manifests, ErrorsNameTheDocumentObjectAndAnnotationAndWriteNothing) {
  std::string bad = std::string(kService) + "---\n" + kDeployment;
  auto pos = bad.find("mcp-sidecar.io/role: inbound");
  bad.replace(pos, 28, "mcp-sidecar.io/role: sideways");
  auto r = inject_manifests(bad, kSettings);
  ASSERT_FALSE(r);
  EXPECT_EQ(
      r.error().message,
      "document 2 (line 17): Deployment/web: mcp-sidecar.io/role: expected outbound or inbound, got \"sideways\"");
  auto scalar = inject_manifests("just text\n", kSettings);
  ASSERT_FALSE(scalar);
  EXPECT_EQ(scalar.error().message, "document 1 (line 1): expected a Kubernetes object (a mapping)");
  auto broken = inject_manifests("a: [\n", kSettings);
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().message.rfind("document 1 (line ", 0), 0u);
}

TEST(Manifests, ReportsEveryBadObject) {
  std::string bad(kDeployment);
  bad.replace(bad.find("role: inbound"), 13, "role: x");
  auto r = inject_manifests(bad + "---\n" + bad, kSettings);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("document 1 (line 1)"), std::string::npos);
  EXPECT_NE(r.error().message.find("\ndocument 2 (line 26)"), std::string::npos) << r.error().message;
}

TEST(Manifests, EmptyInputGivesEmptyOutput) {
  auto m = run("---\n# nothing\n");
  EXPECT_EQ(m.yaml, "");
  EXPECT_EQ(m.objects, 0);
}

}  // namespace
}  // namespace mcp_sidecar::inject

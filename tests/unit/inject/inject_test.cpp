// The mutation engine, one behaviour of docs/injection.md per test.
#include "inject/inject.hpp"

#include <gtest/gtest.h>

namespace mcp_sidecar::inject {
namespace {

using nlohmann::json;

const Settings kSettings{"mcp-sidecar:0.1.0"};

json app_container(json ports = json::array()) {
  json c = {{"name", "app"}, {"image", "registry:1.0"}};
  if (!ports.empty()) c["ports"] = std::move(ports);
  return c;
}

// A Pod annotated with `annotations` (plus inject: "true" unless given).
json pod(json annotations = json::object(), json containers = json::array({app_container()})) {
  if (!annotations.contains("mcp-sidecar.io/inject")) annotations["mcp-sidecar.io/inject"] = "true";
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata", {{"name", "p"}, {"annotations", annotations}}},
          {"spec", {{"containers", containers}}}};
}

json inbound_pod(json ports, json more = json::object()) {
  more["mcp-sidecar.io/role"] = "inbound";
  return pod(more, json::array({app_container(std::move(ports))}));
}

json injected(const json& object) {
  auto r = inject(object, kSettings);
  EXPECT_TRUE(r) << r.error().message;
  if (!r) return nullptr;
  EXPECT_TRUE(r->injected);
  return r->object;
}

std::string error_of(const json& object) {
  auto r = inject(object, kSettings);
  EXPECT_FALSE(r) << "injected: " << r->object.dump();
  return r ? "" : r.error().message;
}

const json& sidecar_of(const json& spec) {
  for (const char* list : {"initContainers", "containers"})
    if (spec.contains(list))
      for (const auto& c : spec.at(list))
        if (c.at("name") == "mcp-sidecar") return c;
  ADD_FAILURE() << "no sidecar in " << spec.dump();
  static const json none;
  return none;
}

json env_of(const json& container) {
  json env = json::object();
  for (const auto& e : container.at("env")) env[e.at("name").get<std::string>()] = e.at("value");
  return env;
}

TEST(Inject, LeavesAPodWithoutTheAnnotationUntouched) {
  json p = pod();
  p["metadata"]["annotations"].erase("mcp-sidecar.io/inject");
  auto r = inject(p, kSettings);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->injected);
  EXPECT_EQ(r->object, p);
  json bare = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"spec", {{"containers", json::array({app_container()})}}}};
  EXPECT_EQ(inject(bare, kSettings)->object, bare);
}

TEST(Inject, LeavesAPodAnnotatedFalseUntouched) {
  json p = pod({{"mcp-sidecar.io/inject", "false"}, {"mcp-sidecar.io/role", "nonsense"}});
  auto r = inject(p, kSettings);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->injected);
  EXPECT_EQ(r->object, p);
}

TEST(Inject, RefusesInjectValuesOtherThanTrueOrFalse) {
  for (json v : {json("yes"), json("True"), json(true), json(1), json("")}) {
    auto msg = error_of(pod({{"mcp-sidecar.io/inject", v}}));
    EXPECT_EQ(msg.rfind("mcp-sidecar.io/inject: expected \"true\" or \"false\"", 0), 0u) << msg;
  }
}

TEST(Inject, AddsANativeOutboundSidecarWithTheDocumentedDefaults) {
  json out = injected(pod());
  const json& spec = out["spec"];
  ASSERT_EQ(spec["initContainers"].size(), 1u);
  const json& c = spec["initContainers"][0];
  EXPECT_EQ(c["name"], "mcp-sidecar");
  EXPECT_EQ(c["image"], "mcp-sidecar:0.1.0");
  EXPECT_EQ(c["restartPolicy"], "Always");
  EXPECT_EQ(c["args"], json::array({"--config", "/etc/mcp-sidecar/config.yaml"}));
  EXPECT_EQ(env_of(c), json({{"MCP_ADMIN_LISTEN", "0.0.0.0:9901"}, {"MCP_OUTBOUND_LISTEN", "127.0.0.1:7001"}}));
  EXPECT_EQ(c["ports"], json::array({{{"name", "admin"}, {"containerPort", 9901}, {"protocol", "TCP"}}}));
  EXPECT_EQ(c["startupProbe"]["httpGet"], json({{"path", "/healthz"}, {"port", "admin"}}));
  EXPECT_EQ(c["livenessProbe"]["httpGet"], json({{"path", "/healthz"}, {"port", "admin"}}));
  EXPECT_EQ(c["readinessProbe"]["httpGet"], json({{"path", "/readyz"}, {"port", "admin"}}));
  EXPECT_EQ(c["resources"], json({{"requests", {{"cpu", "50m"}, {"memory", "32Mi"}}},
                                  {"limits", {{"cpu", "1"}, {"memory", "128Mi"}}}}));
  const json& sc = c["securityContext"];
  EXPECT_EQ(sc["runAsUser"], 65532);
  EXPECT_EQ(sc["runAsNonRoot"], true);
  EXPECT_EQ(sc["readOnlyRootFilesystem"], true);
  EXPECT_EQ(sc["allowPrivilegeEscalation"], false);
  EXPECT_EQ(sc["capabilities"]["drop"], json::array({"ALL"}));
  EXPECT_EQ(sc["seccompProfile"]["type"], "RuntimeDefault");
  EXPECT_EQ(c["volumeMounts"], json::parse(R"([
    {"name": "mcp-sidecar-config", "mountPath": "/etc/mcp-sidecar", "readOnly": true},
    {"name": "mcp-sidecar-tmp", "mountPath": "/tmp"}])"));
  EXPECT_EQ(spec["volumes"], json::parse(R"([
    {"name": "mcp-sidecar-config", "configMap": {"name": "mcp-sidecar"}},
    {"name": "mcp-sidecar-tmp", "emptyDir": {"sizeLimit": "16Mi"}}])"));
  EXPECT_EQ(spec["containers"], json::array({app_container()}));
  EXPECT_EQ(spec["terminationGracePeriodSeconds"], 35);
  const json& a = out["metadata"]["annotations"];
  EXPECT_EQ(a["mcp-sidecar.io/status"], "injected");
  EXPECT_EQ(a["prometheus.io/scrape"], "true");
  EXPECT_EQ(a["prometheus.io/port"], "9901");
  EXPECT_EQ(a["prometheus.io/path"], "/metrics");
}

TEST(Inject, PutsTheNativeSidecarFirstAmongInitContainers) {
  json p = pod();
  p["spec"]["initContainers"] = json::array({{{"name", "migrate"}, {"image", "m:1"}}});
  json out = injected(p);
  ASSERT_EQ(out["spec"]["initContainers"].size(), 2u);
  EXPECT_EQ(out["spec"]["initContainers"][0]["name"], "mcp-sidecar");
  EXPECT_EQ(out["spec"]["initContainers"][1]["name"], "migrate");
}

TEST(Inject, ClassicModeAppendsARegularContainerLast) {
  json p =
      pod({{"mcp-sidecar.io/mode", "classic"}}, json::array({app_container(), {{"name", "log"}, {"image", "l:1"}}}));
  json out = injected(p);
  const json& containers = out["spec"]["containers"];
  ASSERT_EQ(containers.size(), 3u);
  EXPECT_EQ(containers[2]["name"], "mcp-sidecar");
  EXPECT_FALSE(containers[2].contains("restartPolicy"));
  EXPECT_FALSE(out["spec"].contains("initContainers"));
}

TEST(Inject, InjectingTwiceChangesNothing) {
  for (const json& p : {pod(), pod({{"mcp-sidecar.io/mode", "classic"}}),
                        inbound_pod(json::array({{{"name", "mcp"}, {"containerPort", 8000}}})),
                        inbound_pod(json::array({{{"containerPort", 8000}}}),
                                    {{"mcp-sidecar.io/tokens-secret", "t"}, {"mcp-sidecar.io/tls-secret", "tls"}})}) {
    json once = injected(p);
    auto twice = inject(once, kSettings);
    ASSERT_TRUE(twice) << twice.error().message;
    EXPECT_FALSE(twice->injected);
    EXPECT_EQ(twice->object, once);
  }
}

TEST(Inject, LeavesAPodThatAlreadyHasTheSidecarAlone) {
  json p = pod({{"mcp-sidecar.io/role", "inbound"}},
               json::array({app_container(), {{"name", "mcp-sidecar"}, {"image", "own:1"}}}));
  auto r = inject(p, kSettings);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->injected);
  EXPECT_EQ(r->object, p);
}

// Each kind's pod template, by its path.
TEST(Inject, FindsThePodTemplateOfEachKind) {
  const json tmpl = {{"metadata", pod()["metadata"]}, {"spec", pod()["spec"]}};
  struct Case {
    const char* api;
    const char* kind;
    json spec;
    std::vector<std::string> path;
  };
  const std::vector<Case> cases = {
      {"apps/v1", "Deployment", {{"replicas", 1}, {"template", tmpl}}, {"spec", "template"}},
      {"apps/v1", "StatefulSet", {{"serviceName", "s"}, {"template", tmpl}}, {"spec", "template"}},
      {"apps/v1", "DaemonSet", {{"template", tmpl}}, {"spec", "template"}},
      {"apps/v1", "ReplicaSet", {{"template", tmpl}}, {"spec", "template"}},
      {"batch/v1", "Job", {{"template", tmpl}}, {"spec", "template"}},
      {"batch/v1",
       "CronJob",
       {{"schedule", "* * * * *"}, {"jobTemplate", {{"spec", {{"template", tmpl}}}}}},
       {"spec", "jobTemplate", "spec", "template"}},
  };
  for (const auto& c : cases) {
    json object = {{"apiVersion", c.api}, {"kind", c.kind}, {"metadata", {{"name", "w"}}}, {"spec", c.spec}};
    json out = injected(object);
    const json* t = &out;
    for (const auto& step : c.path) t = &t->at(step);
    EXPECT_EQ(t->at("spec").at("initContainers")[0]["name"], "mcp-sidecar") << c.kind;
    EXPECT_EQ(t->at("metadata").at("annotations").at("mcp-sidecar.io/status"), "injected") << c.kind;
    EXPECT_EQ(out["metadata"], json({{"name", "w"}})) << c.kind << ": the object's own metadata is not touched";
  }
}

TEST(Inject, LeavesTypesWithoutAPodTemplateAlone) {
  const json annotated = pod()["metadata"];
  for (const json& object :
       {json{{"apiVersion", "v1"}, {"kind", "Service"}, {"metadata", annotated}},
        json{{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", annotated}},
        // A Deployment of another API group is someone else's type.
        json{{"apiVersion", "example.com/v1"}, {"kind", "Deployment"}, {"spec", {{"template", pod()}}}},
        json{{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"spec", {{"template", 3}}}},
        json{{"apiVersion", "apps/v1"}, {"kind", "Deployment"}}, json::array(), json("x")}) {
    auto r = inject(object, kSettings);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_FALSE(r->injected) << object.dump();
    EXPECT_EQ(r->object, object);
  }
}

TEST(Inject, InboundMovesThePortNamedMcpBehindTheGate) {
  json p = inbound_pod(json::array({{{"name", "metrics"}, {"containerPort", 9100}},
                                    {{"name", "mcp"}, {"containerPort", 8000}, {"protocol", "TCP"}}}));
  json out = injected(p);
  const json& app = out["spec"]["containers"][0];
  EXPECT_EQ(app["ports"], json::array({{{"name", "metrics"}, {"containerPort", 9100}}}));
  const json& c = sidecar_of(out["spec"]);
  EXPECT_EQ(c["ports"][0], json({{"name", "mcp"}, {"containerPort", 7443}, {"protocol", "TCP"}}));
  EXPECT_EQ(c["ports"][1]["name"], "admin");
  auto env = env_of(c);
  EXPECT_EQ(env["MCP_INBOUND_LISTEN"], "0.0.0.0:7443");
  EXPECT_EQ(env["MCP_INBOUND_FORWARD_TO"], "http://127.0.0.1:8000");
  EXPECT_FALSE(env.contains("MCP_OUTBOUND_LISTEN"));
}

TEST(Inject, InboundTakesThePodsOnlyPortByDefaultAndItsName) {
  json out = injected(inbound_pod(json::array({{{"name", "http"}, {"containerPort", 3000}}})));
  EXPECT_FALSE(out["spec"]["containers"][0].contains("ports"));
  const json& c = sidecar_of(out["spec"]);
  EXPECT_EQ(c["ports"][0], json({{"name", "http"}, {"containerPort", 7443}, {"protocol", "TCP"}}));
  EXPECT_EQ(env_of(c)["MCP_INBOUND_FORWARD_TO"], "http://127.0.0.1:3000");
  // An unnamed port: the gate's port is named mcp.
  json unnamed = injected(inbound_pod(json::array({{{"containerPort", 3000}}})));
  EXPECT_EQ(sidecar_of(unnamed["spec"])["ports"][0]["name"], "mcp");
}

TEST(Inject, InboundAppPortByNumberOrName) {
  const json ports =
      json::array({{{"name", "web"}, {"containerPort", 8080}}, {{"name", "api"}, {"containerPort", 9000}}});
  json by_name = injected(inbound_pod(ports, {{"mcp-sidecar.io/app-port", "api"}}));
  EXPECT_EQ(env_of(sidecar_of(by_name["spec"]))["MCP_INBOUND_FORWARD_TO"], "http://127.0.0.1:9000");
  EXPECT_EQ(sidecar_of(by_name["spec"])["ports"][0]["name"], "api");
  EXPECT_EQ(by_name["spec"]["containers"][0]["ports"], json::array({ports[0]}));
  json by_number = injected(inbound_pod(ports, {{"mcp-sidecar.io/app-port", "8080"}}));
  EXPECT_EQ(sidecar_of(by_number["spec"])["ports"][0]["name"], "web");
  EXPECT_EQ(by_number["spec"]["containers"][0]["ports"], json::array({ports[1]}));
  // A number the pod does not declare: forwarded to, nothing moved.
  json undeclared = injected(inbound_pod(ports, {{"mcp-sidecar.io/app-port", "5000"}}));
  EXPECT_EQ(env_of(sidecar_of(undeclared["spec"]))["MCP_INBOUND_FORWARD_TO"], "http://127.0.0.1:5000");
  EXPECT_EQ(undeclared["spec"]["containers"][0]["ports"], ports);
  EXPECT_EQ(sidecar_of(undeclared["spec"])["ports"][0]["name"], "mcp");
}

TEST(Inject, InboundProbesThatNamedTheMovedPortUseItsNumber) {
  json p = inbound_pod(json::array({{{"name", "mcp"}, {"containerPort", 8000}}}));
  json& app = p["spec"]["containers"][0];
  app["readinessProbe"] = {{"tcpSocket", {{"port", "mcp"}}}};
  app["livenessProbe"] = {{"httpGet", {{"path", "/health"}, {"port", "mcp"}}}};
  app["lifecycle"] = {{"preStop", {{"httpGet", {{"path", "/stop"}, {"port", "mcp"}}}}}};
  json out = injected(p);
  const json& a = out["spec"]["containers"][0];
  EXPECT_EQ(a["readinessProbe"]["tcpSocket"]["port"], 8000);
  EXPECT_EQ(a["livenessProbe"]["httpGet"]["port"], 8000);
  EXPECT_EQ(a["lifecycle"]["preStop"]["httpGet"]["port"], 8000);
}

TEST(Inject, InboundNeedsToKnowTheAppPort) {
  EXPECT_NE(error_of(inbound_pod(json::array())).find("mcp-sidecar.io/app-port: not set"), std::string::npos);
  EXPECT_NE(error_of(inbound_pod(json::array({{{"containerPort", 1}}, {{"containerPort", 2}}})))
                .find("mcp-sidecar.io/app-port: not set"),
            std::string::npos);
  EXPECT_EQ(error_of(inbound_pod(json::array({{{"name", "web"}, {"containerPort", 8080}}}),
                                 {{"mcp-sidecar.io/app-port", "api"}})),
            "mcp-sidecar.io/app-port: no container port is named \"api\"");
  EXPECT_NE(error_of(inbound_pod(json::array({{{"name", "mcp"}, {"containerPort", 53}, {"protocol", "UDP"}}})))
                .find("is not TCP"),
            std::string::npos);
}

TEST(Inject, RaisesTheGracePeriodToTheSidecarsDrain) {
  json absent = injected(pod());
  EXPECT_EQ(absent["spec"]["terminationGracePeriodSeconds"], 35);
  json low = pod();
  low["spec"]["terminationGracePeriodSeconds"] = 10;
  EXPECT_EQ(injected(low)["spec"]["terminationGracePeriodSeconds"], 35);
  json high = pod();
  high["spec"]["terminationGracePeriodSeconds"] = 120;
  EXPECT_EQ(injected(high)["spec"]["terminationGracePeriodSeconds"], 120);
}

TEST(Inject, MountsTheTokensAndTlsSecretsWhenAnnotated) {
  json out = injected(pod({{"mcp-sidecar.io/tokens-secret", "app-tokens"}, {"mcp-sidecar.io/tls-secret", "app-tls"}}));
  const json& volumes = out["spec"]["volumes"];
  ASSERT_EQ(volumes.size(), 4u);
  EXPECT_EQ(volumes[2], json::parse(R"({"name": "mcp-sidecar-tokens",
                                        "secret": {"secretName": "app-tokens", "defaultMode": 292}})"));
  EXPECT_EQ(volumes[3], json::parse(R"({"name": "mcp-sidecar-tls",
                                        "secret": {"secretName": "app-tls", "defaultMode": 292}})"));
  const json& mounts = sidecar_of(out["spec"])["volumeMounts"];
  EXPECT_EQ(mounts[2], json::parse(R"({"name": "mcp-sidecar-tokens",
                                       "mountPath": "/var/run/mcp-sidecar/tokens", "readOnly": true})"));
  EXPECT_EQ(mounts[3], json::parse(R"({"name": "mcp-sidecar-tls",
                                       "mountPath": "/var/run/mcp-sidecar/tls", "readOnly": true})"));
}

TEST(Inject, TakesPortsResourcesImageAndConfigMapFromAnnotations) {
  json out =
      injected(pod({{"mcp-sidecar.io/config-map", "kyc-orchestrator.v2"},
                    {"mcp-sidecar.io/image", "registry.local:5000/team/mcp-sidecar:1.2@sha256:" + std::string(64, 'a')},
                    {"mcp-sidecar.io/outbound-port", "7100"},
                    {"mcp-sidecar.io/admin-port", "9999"},
                    {"mcp-sidecar.io/cpu-request", "0.1"},
                    {"mcp-sidecar.io/memory-request", "64Mi"},
                    {"mcp-sidecar.io/cpu-limit", "2"},
                    {"mcp-sidecar.io/memory-limit", "1Gi"}}));
  const json& c = sidecar_of(out["spec"]);
  EXPECT_EQ(c["image"], "registry.local:5000/team/mcp-sidecar:1.2@sha256:" + std::string(64, 'a'));
  EXPECT_EQ(env_of(c), json({{"MCP_ADMIN_LISTEN", "0.0.0.0:9999"}, {"MCP_OUTBOUND_LISTEN", "127.0.0.1:7100"}}));
  EXPECT_EQ(c["ports"][0]["containerPort"], 9999);
  EXPECT_EQ(c["resources"],
            json({{"requests", {{"cpu", "0.1"}, {"memory", "64Mi"}}}, {"limits", {{"cpu", "2"}, {"memory", "1Gi"}}}}));
  EXPECT_EQ(out["spec"]["volumes"][0]["configMap"]["name"], "kyc-orchestrator.v2");
  EXPECT_EQ(out["metadata"]["annotations"]["prometheus.io/port"], "9999");
  json gate = injected(inbound_pod(json::array({{{"containerPort", 8000}}}), {{"mcp-sidecar.io/gate-port", "8443"}}));
  EXPECT_EQ(env_of(sidecar_of(gate["spec"]))["MCP_INBOUND_LISTEN"], "0.0.0.0:8443");
}

TEST(Inject, KeepsThePodsOwnPrometheusAnnotations) {
  json out = injected(pod({{"prometheus.io/scrape", "true"}, {"prometheus.io/port", "8080"}}));
  const json& a = out["metadata"]["annotations"];
  EXPECT_EQ(a["prometheus.io/port"], "8080");
  EXPECT_FALSE(a.contains("prometheus.io/path"));
  EXPECT_EQ(a["mcp-sidecar.io/status"], "injected");
}

// Every bad value is an error that starts with the annotation's name.
TEST(Inject, EachBadAnnotationIsAnErrorNamingIt) {
  const json ports = json::array({{{"containerPort", 8000}}});
  const std::vector<std::pair<json, std::string>> cases = {
      {pod({{"mcp-sidecar.io/role", "sideways"}}), "mcp-sidecar.io/role: expected outbound or inbound"},
      {pod({{"mcp-sidecar.io/mode", "Native"}}), "mcp-sidecar.io/mode: expected native or classic"},
      {pod({{"mcp-sidecar.io/config-map", "Bad_Name"}}), "mcp-sidecar.io/config-map: expected"},
      {pod({{"mcp-sidecar.io/config-map", "a\nb"}}), "mcp-sidecar.io/config-map: expected"},
      {pod({{"mcp-sidecar.io/tokens-secret", "-x"}}), "mcp-sidecar.io/tokens-secret: expected"},
      {pod({{"mcp-sidecar.io/tls-secret", std::string(254, 'a')}}), "mcp-sidecar.io/tls-secret: expected"},
      {pod({{"mcp-sidecar.io/image", "bad image"}}), "mcp-sidecar.io/image: expected an image reference"},
      {pod({{"mcp-sidecar.io/image", "Upper/Case"}}), "mcp-sidecar.io/image: expected an image reference"},
      {pod({{"mcp-sidecar.io/admin-port", "0"}}), "mcp-sidecar.io/admin-port: expected a port number"},
      {pod({{"mcp-sidecar.io/admin-port", "65536"}}), "mcp-sidecar.io/admin-port: expected a port number"},
      {pod({{"mcp-sidecar.io/admin-port", "80a"}}), "mcp-sidecar.io/admin-port: expected a port number"},
      {pod({{"mcp-sidecar.io/outbound-port", " 7001"}}), "mcp-sidecar.io/outbound-port: expected a port number"},
      {pod({{"mcp-sidecar.io/gate-port", "7443"}}), "mcp-sidecar.io/gate-port: applies to role inbound only"},
      {pod({{"mcp-sidecar.io/app-port", "8000"}}), "mcp-sidecar.io/app-port: applies to role inbound only"},
      {pod({{"mcp-sidecar.io/cpu-request", "lots"}}), "mcp-sidecar.io/cpu-request: expected a Kubernetes quantity"},
      {pod({{"mcp-sidecar.io/memory-limit", "-1Gi"}}), "mcp-sidecar.io/memory-limit: expected a Kubernetes quantity"},
      {pod({{"mcp-sidecar.io/memory-request", "12XB"}}),
       "mcp-sidecar.io/memory-request: expected a Kubernetes quantity"},
      {pod({{"mcp-sidecar.io/cpu-request", "2"}}), "mcp-sidecar.io/cpu-request: 2 is more than the cpu limit 1"},
      {pod({{"mcp-sidecar.io/memory-request", "1Gi"}}), "mcp-sidecar.io/memory-request: 1Gi is more than"},
      {pod({{"mcp-sidecar.io/gateport", "1"}}), "mcp-sidecar.io/gateport: unknown annotation"},
      {pod({{"mcp-sidecar.io/role", 1}}), "mcp-sidecar.io/role: expected a string"},
      {pod({{"mcp-sidecar.io/outbound-port", "9901"}}), "mcp-sidecar.io/outbound-port: is the same as the admin port"},
      {inbound_pod(ports, {{"mcp-sidecar.io/outbound-port", "7001"}}),
       "mcp-sidecar.io/outbound-port: applies to role outbound only"},
      {inbound_pod(ports, {{"mcp-sidecar.io/app-port", "x_y"}}), "mcp-sidecar.io/app-port: expected a port number"},
      {inbound_pod(ports, {{"mcp-sidecar.io/gate-port", "8000"}}), "mcp-sidecar.io/gate-port: is the app's port"},
      {inbound_pod(ports, {{"mcp-sidecar.io/gate-port", "9901"}}),
       "mcp-sidecar.io/gate-port: is the same as the admin port"},
      {inbound_pod(ports, {{"mcp-sidecar.io/admin-port", "8000"}}), "mcp-sidecar.io/admin-port: is the app's port"},
  };
  for (const auto& [object, expected] : cases) {
    auto msg = error_of(object);
    EXPECT_EQ(msg.rfind(expected, 0), 0u) << "got: " << msg << "\nwanted: " << expected;
  }
}

TEST(Inject, RefusesPortsTheAppAlreadyDeclares) {
  json p = pod({}, json::array({app_container(json::array({{{"containerPort", 9901}}}))}));
  EXPECT_EQ(error_of(p), "mcp-sidecar.io/admin-port: 9901 is already a container port of the pod");
  json q = inbound_pod(json::array({{{"name", "mcp"}, {"containerPort", 8000}}, {{"containerPort", 7443}}}));
  EXPECT_EQ(error_of(q), "mcp-sidecar.io/gate-port: 7443 is already a container port of the pod");
}

TEST(Inject, RefusesAClassicSidecarInAPodThatShouldFinish) {
  json p = pod({{"mcp-sidecar.io/mode", "classic"}});
  p["spec"]["restartPolicy"] = "Never";
  EXPECT_EQ(error_of(p).rfind("mcp-sidecar.io/mode: classic", 0), 0u);
  p["metadata"]["annotations"]["mcp-sidecar.io/mode"] = "native";
  EXPECT_TRUE(inject(p, kSettings));
}

TEST(Inject, RefusesAPodWhoseShapeItCannotExtend) {
  json clash = pod();
  clash["spec"]["volumes"] = json::array({{{"name", "mcp-sidecar-config"}, {"emptyDir", json::object()}}});
  EXPECT_EQ(error_of(clash).rfind("mcp-sidecar.io/inject: the pod already has a volume", 0), 0u);
  json empty = pod({}, json::array());
  EXPECT_EQ(error_of(empty), "mcp-sidecar.io/inject: the pod template has no containers");
  json weird = pod();
  weird["spec"]["initContainers"] = "x";
  EXPECT_EQ(error_of(weird).rfind("mcp-sidecar.io/inject:", 0), 0u);
}

TEST(Inject, TakesTheTypeFromTheCallerWhenTheObjectLacksIt) {
  json p = pod();
  p.erase("kind");
  p.erase("apiVersion");
  EXPECT_FALSE(inject(p, kSettings)->injected);
  auto r = inject(p, ObjectType{"", "Pod"}, kSettings);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->injected);
}

}  // namespace
}  // namespace mcp_sidecar::inject

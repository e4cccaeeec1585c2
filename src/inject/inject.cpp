#include "inject/inject.hpp"

#include "config/config.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <set>

namespace mcp_sidecar::inject {

using nlohmann::json;

namespace {

constexpr std::string_view kConfigDir = "/etc/mcp-sidecar";
constexpr std::string_view kTokensDir = "/var/run/mcp-sidecar/tokens";
constexpr std::string_view kTlsDir = "/var/run/mcp-sidecar/tls";
constexpr int kSecretMode = 0444;  // the injector cannot set the pod's fsGroup: files readable by 65532

// Every annotation the injector reads or writes.
constexpr std::array<std::string_view, 16> kKnown = {"inject",         "role",          "mode",         "config-map",
                                                     "tokens-secret",  "tls-secret",    "image",        "app-port",
                                                     "gate-port",      "outbound-port", "admin-port",   "cpu-request",
                                                     "memory-request", "cpu-limit",     "memory-limit", "status"};

const json* find(const json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

Error bad(std::string_view annotation, const std::string& what) {
  std::string name = annotation.starts_with(kAnnotationPrefix)
                         ? std::string(annotation)
                         : std::string(kAnnotationPrefix) + std::string(annotation);
  return Error{ErrorCode::bad_request, name + ": " + what};
}

// A value for a message: JSON-quoted, at most 64 bytes of it.
std::string shown(std::string_view value) {
  std::string cut(value.substr(0, 64));
  if (value.size() > 64) cut += "...";
  return json(cut).dump(-1, ' ', false, json::error_handler_t::replace);
}

// ---- value syntax --------------------------------------------------------------------------

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// RFC 1123 subdomain, as Kubernetes names ConfigMaps and Secrets.
bool valid_dns_subdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    auto dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || !lower_alnum(label.front()) || !lower_alnum(label.back())) return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return lower_alnum(c) || c == '-'; })) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// IANA_SVC_NAME: what a container port's name must be.
bool valid_port_name(std::string_view name) {
  if (name.empty() || name.size() > 15 || name.front() == '-' || name.back() == '-') return false;
  if (name.find("--") != std::string_view::npos) return false;
  if (!std::all_of(name.begin(), name.end(), [](char c) { return lower_alnum(c) || c == '-'; })) return false;
  return std::any_of(name.begin(), name.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

std::optional<int> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5 || text.front() == '0') return std::nullopt;
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < 1 || value > 65535) return std::nullopt;
  return value;
}

// A Kubernetes quantity without a sign ("50m", "1", "0.5", "128Mi", "1e3"), as a number.
std::optional<double> parse_quantity(std::string_view q) {
  if (q.empty() || q.size() > 32) return std::nullopt;
  std::size_t i = 0;
  while (i < q.size() && ((q[i] >= '0' && q[i] <= '9') || q[i] == '.')) ++i;
  std::string_view number = q.substr(0, i);
  std::string_view suffix = q.substr(i);
  if (number.empty() || number == "." || std::count(number.begin(), number.end(), '.') > 1) return std::nullopt;
  double value = std::stod(std::string(number));
  static const std::array<std::pair<std::string_view, double>, 14> kSuffixes = {{{"", 1},
                                                                                 {"m", 1e-3},
                                                                                 {"k", 1e3},
                                                                                 {"M", 1e6},
                                                                                 {"G", 1e9},
                                                                                 {"T", 1e12},
                                                                                 {"P", 1e15},
                                                                                 {"E", 1e18},
                                                                                 {"Ki", 1024.0},
                                                                                 {"Mi", 1048576.0},
                                                                                 {"Gi", 1073741824.0},
                                                                                 {"Ti", 1099511627776.0},
                                                                                 {"Pi", 1125899906842624.0},
                                                                                 {"Ei", 1152921504606846976.0}}};
  for (const auto& [s, factor] : kSuffixes)
    if (suffix == s) return value * factor;
  // A decimal exponent: e3, E-2, e+6.
  if (suffix.size() >= 2 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    std::string_view exp = suffix.substr(1);
    if (exp[0] == '+' || exp[0] == '-') exp = exp.substr(1);
    if (exp.empty() || exp.size() > 2 || exp.find_first_not_of("0123456789") != std::string_view::npos)
      return std::nullopt;
    return std::stod(std::string(number) + std::string(suffix));
  }
  return std::nullopt;
}

// ---- the annotations -----------------------------------------------------------------------

struct Plan {
  bool inbound = false;
  bool native = true;
  std::string config_map = "mcp-sidecar";
  std::string tokens_secret;
  std::string tls_secret;
  std::string image;
  std::string app_port;  // inbound: a number or a port name; empty = the default rule
  int gate_port = 7443;
  int outbound_port = 7001;
  int admin_port = 9901;
  std::string cpu_request = "50m";
  std::string memory_request = "32Mi";
  std::string cpu_limit = "1";
  std::string memory_limit = "128Mi";
};

Result<Plan> read_plan(const json& annotations, const Settings& settings) {
  Plan plan;
  plan.image = settings.image;
  std::set<std::string, std::less<>> given;
  // Each mcp-sidecar.io/ annotation is known and a string: a typo is an error, not a silent default.
  for (const auto& [key, value] : annotations.items()) {
    if (!std::string_view(key).starts_with(kAnnotationPrefix)) continue;
    std::string_view name = std::string_view(key).substr(kAnnotationPrefix.size());
    if (std::find(kKnown.begin(), kKnown.end(), name) == kKnown.end())
      return bad(key, "unknown annotation (docs/injection.md lists them)");
    if (!value.is_string()) return bad(key, "expected a string");
    given.insert(std::string(name));
  }
  auto text = [&](std::string_view name) -> std::optional<std::string> {
    if (!given.count(name)) return std::nullopt;
    return (*find(annotations, std::string(kAnnotationPrefix) + std::string(name))).get<std::string>();
  };

  if (auto v = text("role")) {
    if (*v != "outbound" && *v != "inbound") return bad("role", "expected outbound or inbound, got " + shown(*v));
    plan.inbound = *v == "inbound";
  }
  if (auto v = text("mode")) {
    if (*v != "native" && *v != "classic") return bad("mode", "expected native or classic, got " + shown(*v));
    plan.native = *v == "native";
  }
  for (auto [name, out] : {std::pair{"config-map", &plan.config_map}, std::pair{"tokens-secret", &plan.tokens_secret},
                           std::pair{"tls-secret", &plan.tls_secret}}) {
    if (auto v = text(name)) {
      if (!valid_dns_subdomain(*v))
        return bad(name, "expected a ConfigMap or Secret name (lowercase RFC 1123 subdomain), got " + shown(*v));
      *out = *v;
    }
  }
  if (auto v = text("image")) {
    if (!config::valid_image_reference(*v)) return bad("image", "expected an image reference, got " + shown(*v));
    plan.image = *v;
  }
  const std::string_view role = plan.inbound ? "inbound" : "outbound";
  for (auto [name, out, only] :
       {std::tuple{"gate-port", &plan.gate_port, "inbound"},
        std::tuple{"outbound-port", &plan.outbound_port, "outbound"}, std::tuple{"admin-port", &plan.admin_port, ""}}) {
    auto v = text(name);
    if (!v) continue;
    if (*only && role != only)
      return bad(name, std::string("applies to role ") + only + " only; this pod's role is " + std::string(role));
    auto port = parse_port(*v);
    if (!port) return bad(name, "expected a port number 1-65535, got " + shown(*v));
    *out = *port;
  }
  if (auto v = text("app-port")) {
    if (!plan.inbound) return bad("app-port", "applies to role inbound only; this pod's role is outbound");
    if (!parse_port(*v) && !valid_port_name(*v))
      return bad("app-port", "expected a port number 1-65535 or a container port name, got " + shown(*v));
    plan.app_port = *v;
  }
  std::array<std::pair<const char*, std::string*>, 4> resources = {{{"cpu-request", &plan.cpu_request},
                                                                    {"memory-request", &plan.memory_request},
                                                                    {"cpu-limit", &plan.cpu_limit},
                                                                    {"memory-limit", &plan.memory_limit}}};
  for (auto [name, out] : resources) {
    if (auto v = text(name)) {
      if (!parse_quantity(*v)) return bad(name, "expected a Kubernetes quantity (50m, 0.5, 128Mi), got " + shown(*v));
      *out = *v;
    }
  }
  if (*parse_quantity(plan.cpu_request) > *parse_quantity(plan.cpu_limit))
    return bad("cpu-request", plan.cpu_request + " is more than the cpu limit " + plan.cpu_limit);
  if (*parse_quantity(plan.memory_request) > *parse_quantity(plan.memory_limit))
    return bad("memory-request", plan.memory_request + " is more than the memory limit " + plan.memory_limit);
  return plan;
}

// ---- the pod ---------------------------------------------------------------------------------

bool has_sidecar(const json& spec) {
  for (const char* list : {"containers", "initContainers"}) {
    const json* items = find(spec, list);
    if (!items || !items->is_array()) continue;
    for (const auto& c : *items) {
      const json* name = find(c, "name");
      if (name && *name == kContainerName) return true;
    }
  }
  return false;
}

// One entry of an app container's `ports`.
struct PortRef {
  std::size_t container = 0;
  std::size_t index = 0;
  std::string name;
  std::int64_t number = 0;
};

// The inbound app port: moved from its container to the gate. Returns the app's port number and
// the name the gate's port takes.
Result<std::pair<int, std::string>> move_app_port(json& containers, const std::string& wanted) {
  std::vector<PortRef> ports;
  for (std::size_t ci = 0; ci < containers.size(); ++ci) {
    const json* list = find(containers[ci], "ports");
    if (!list || !list->is_array()) continue;
    for (std::size_t pi = 0; pi < list->size(); ++pi) {
      const json& p = (*list)[pi];
      const json* number = find(p, "containerPort");
      if (!number || !number->is_number_integer()) continue;
      const json* name = find(p, "name");
      ports.push_back({ci, pi, name && name->is_string() ? name->get<std::string>() : "", number->get<std::int64_t>()});
    }
  }
  const std::optional<int> wanted_number = parse_port(wanted);
  const PortRef* found = nullptr;
  for (const auto& p : ports) {
    if (wanted.empty() ? p.name == "mcp" : (wanted_number ? p.number == *wanted_number : p.name == wanted)) {
      found = &p;
      break;
    }
  }
  if (!found && wanted.empty()) {
    if (ports.size() != 1)
      return bad("app-port", "not set, and the pod has no container port named \"mcp\" and " +
                                 std::to_string(ports.size()) + " declared ports: say which is the app's");
    found = &ports.front();
  }
  if (!found && !wanted_number) return bad("app-port", "no container port is named " + shown(wanted));
  if (!found) return std::pair{*wanted_number, std::string("mcp")};  // a port the app does not declare
  if (found->number < 1 || found->number > 65535)
    return bad("app-port", "the app's containerPort " + std::to_string(found->number) + " is not 1-65535");

  json& container = containers[found->container];
  json& list = container["ports"];
  const json* protocol = find(list[found->index], "protocol");
  if (protocol && *protocol != "TCP")
    return bad("app-port", "the app's port " + std::to_string(found->number) + " is not TCP: the gate forwards HTTP");
  list.erase(found->index);
  if (list.empty()) container.erase("ports");
  const int number = static_cast<int>(found->number);
  std::string gate_name = found->name.empty() ? "mcp" : found->name;
  // The container's probes and hooks that named the port now use its number: the name is the gate's.
  if (!found->name.empty()) {
    auto renumber = [&](json& owner) {
      for (const char* handler : {"httpGet", "tcpSocket"}) {
        if (!owner.is_object() || !owner.contains(handler) || !owner[handler].is_object()) continue;
        json& h = owner[handler];
        if (h.contains("port") && h["port"] == found->name) h["port"] = number;
      }
    };
    for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"})
      if (container.contains(probe)) renumber(container[probe]);
    if (container.contains("lifecycle") && container["lifecycle"].is_object())
      for (const char* hook : {"postStart", "preStop"})
        if (container["lifecycle"].contains(hook)) renumber(container["lifecycle"][hook]);
  }
  return std::pair{number, gate_name};
}

json probe(std::string_view path, int period, int timeout, int failures) {
  return {{"httpGet", {{"path", path}, {"port", "admin"}}},
          {"periodSeconds", period},
          {"timeoutSeconds", timeout},
          {"failureThreshold", failures}};
}

// The chart's restrictive container securityContext (charts/mcp-sidecar/templates/_helpers.tpl).
json security_context() {
  return {{"runAsNonRoot", true},
          {"runAsUser", 65532},
          {"runAsGroup", 65532},
          {"readOnlyRootFilesystem", true},
          {"allowPrivilegeEscalation", false},
          {"privileged", false},
          {"capabilities", {{"drop", json::array({"ALL"})}}},
          {"seccompProfile", {{"type", "RuntimeDefault"}}}};
}

json env_var(std::string_view name, const std::string& value) { return {{"name", name}, {"value", value}}; }

json container_port(const std::string& name, int number) {
  return {{"name", name}, {"containerPort", number}, {"protocol", "TCP"}};
}

json mount(std::string_view volume, std::string_view path, bool read_only) {
  json m = {{"name", volume}, {"mountPath", path}};
  if (read_only) m["readOnly"] = true;
  return m;
}

json sidecar_container(const Plan& plan, int app_port, const std::string& gate_name) {
  const std::string admin = std::to_string(plan.admin_port);
  json env = json::array({env_var("MCP_ADMIN_LISTEN", "0.0.0.0:" + admin)});
  json ports = json::array();
  if (plan.inbound) {
    env.push_back(env_var("MCP_INBOUND_LISTEN", "0.0.0.0:" + std::to_string(plan.gate_port)));
    env.push_back(env_var("MCP_INBOUND_FORWARD_TO", "http://127.0.0.1:" + std::to_string(app_port)));
    ports.push_back(container_port(gate_name, plan.gate_port));
  } else {
    env.push_back(env_var("MCP_OUTBOUND_LISTEN", "127.0.0.1:" + std::to_string(plan.outbound_port)));
  }
  ports.push_back(container_port("admin", plan.admin_port));
  json mounts = json::array({mount("mcp-sidecar-config", kConfigDir, true), mount("mcp-sidecar-tmp", "/tmp", false)});
  if (!plan.tokens_secret.empty()) mounts.push_back(mount("mcp-sidecar-tokens", kTokensDir, true));
  if (!plan.tls_secret.empty()) mounts.push_back(mount("mcp-sidecar-tls", kTlsDir, true));
  json c = {{"name", kContainerName},
            {"image", plan.image},
            {"imagePullPolicy", "IfNotPresent"},
            {"args", json::array({"--config", std::string(kConfigDir) + "/config.yaml"})},
            {"env", env},
            {"ports", ports},
            {"resources",
             {{"requests", {{"cpu", plan.cpu_request}, {"memory", plan.memory_request}}},
              {"limits", {{"cpu", plan.cpu_limit}, {"memory", plan.memory_limit}}}}},
            {"securityContext", security_context()},
            // The chart's probe settings (charts/mcp-sidecar/values.yaml).
            {"startupProbe", probe("/healthz", 1, 2, 60)},
            {"livenessProbe", probe("/healthz", 10, 2, 3)},
            {"readinessProbe", probe("/readyz", 2, 2, 2)},
            {"volumeMounts", mounts}};
  // A native sidecar: started before the app containers, stopped after them (Kubernetes 1.29+).
  if (plan.native) c["restartPolicy"] = "Always";
  return c;
}

json secret_volume(std::string_view name, const std::string& secret) {
  return {{"name", name}, {"secret", {{"secretName", secret}, {"defaultMode", kSecretMode}}}};
}

// Adds the sidecar to a pod template ({metadata, spec}) whose annotations asked for it.
Result<void> add_sidecar(json& pod, const Plan& plan) {
  json& spec = pod["spec"];
  json& annotations = pod["metadata"]["annotations"];
  if (!spec.contains("containers") || !spec["containers"].is_array() || spec["containers"].empty())
    return bad(kInjectAnnotation, "the pod template has no containers");
  for (const auto& c : spec["containers"])
    if (!c.is_object()) return bad(kInjectAnnotation, "the pod template's containers are not objects");
  if (spec.contains("initContainers") && !spec["initContainers"].is_array())
    return bad(kInjectAnnotation, "the pod template's initContainers is not a list");
  if (spec.contains("volumes") && !spec["volumes"].is_array())
    return bad(kInjectAnnotation, "the pod template's volumes is not a list");
  for (const auto& v : spec.value("volumes", json::array())) {
    const json* name = find(v, "name");
    if (name && name->is_string() && name->get<std::string>().starts_with(kContainerName))
      return bad(kInjectAnnotation, "the pod already has a volume named " + shown(name->get<std::string>()));
  }
  const json* restart = find(spec, "restartPolicy");
  if (!plan.native && restart && *restart != "Always")
    return bad("mode", "classic: the sidecar would keep this pod (restartPolicy " + shown(restart->dump()) +
                           ") running after its containers finish; use native");

  int app_port = 0;
  std::string gate_name;
  if (plan.inbound) {
    auto moved = move_app_port(spec["containers"], plan.app_port);
    if (!moved) return std::move(moved).error();
    std::tie(app_port, gate_name) = *moved;
  }

  // Ports the pod's containers declare (after the move): the sidecar's must not collide with them.
  std::set<std::int64_t> taken;
  std::set<std::string> names;
  for (const char* list : {"containers", "initContainers"}) {
    for (const auto& c : spec.value(list, json::array())) {
      const json* ports = find(c, "ports");
      if (!ports || !ports->is_array()) continue;
      for (const auto& p : *ports) {
        const json* n = find(p, "containerPort");
        if (n && n->is_number_integer()) taken.insert(n->get<std::int64_t>());
        const json* name = find(p, "name");
        if (name && name->is_string()) names.insert(name->get<std::string>());
      }
    }
  }
  auto clash = [&](const char* annotation, int port) -> std::optional<Error> {
    if (taken.count(port)) return bad(annotation, std::to_string(port) + " is already a container port of the pod");
    return std::nullopt;
  };
  if (auto e = clash("admin-port", plan.admin_port)) return *e;
  if (plan.inbound) {
    if (auto e = clash("gate-port", plan.gate_port)) return *e;
    if (plan.gate_port == plan.admin_port) return bad("gate-port", "is the same as the admin port");
    if (plan.gate_port == app_port) return bad("gate-port", "is the app's port: the gate needs its own");
    if (app_port == plan.admin_port) return bad("admin-port", "is the app's port: the sidecar needs its own");
    if (names.count(gate_name))
      return bad("app-port", "the gate's port would be named " + shown(gate_name) + ", which another port has");
  } else {
    if (auto e = clash("outbound-port", plan.outbound_port)) return *e;
    if (plan.outbound_port == plan.admin_port) return bad("outbound-port", "is the same as the admin port");
  }

  json sidecar = sidecar_container(plan, app_port, gate_name);
  if (plan.native) {
    json& init = spec["initContainers"];
    if (init.is_null()) init = json::array();
    init.insert(init.begin(), std::move(sidecar));
  } else {
    spec["containers"].push_back(std::move(sidecar));
  }
  json& volumes = spec["volumes"];
  if (volumes.is_null()) volumes = json::array();
  volumes.push_back({{"name", "mcp-sidecar-config"}, {"configMap", {{"name", plan.config_map}}}});
  volumes.push_back({{"name", "mcp-sidecar-tmp"}, {"emptyDir", {{"sizeLimit", "16Mi"}}}});
  if (!plan.tokens_secret.empty()) volumes.push_back(secret_volume("mcp-sidecar-tokens", plan.tokens_secret));
  if (!plan.tls_secret.empty()) volumes.push_back(secret_volume("mcp-sidecar-tls", plan.tls_secret));

  const json* grace = find(spec, "terminationGracePeriodSeconds");
  if (!grace || !grace->is_number() || grace->get<double>() < kMinGraceSeconds)
    spec["terminationGracePeriodSeconds"] = kMinGraceSeconds;

  annotations["mcp-sidecar.io/status"] = "injected";
  if (!annotations.contains("prometheus.io/scrape") && !annotations.contains("prometheus.io/port") &&
      !annotations.contains("prometheus.io/path")) {
    annotations["prometheus.io/scrape"] = "true";
    annotations["prometheus.io/port"] = std::to_string(plan.admin_port);
    annotations["prometheus.io/path"] = "/metrics";
  }
  return {};
}

// The path to the pod template (empty: the object is a Pod); nullopt for types without one.
std::optional<std::vector<std::string>> template_of(const ObjectType& t) {
  using Path = std::vector<std::string>;
  if (t.group.empty() && t.kind == "Pod") return Path{};
  if ((t.group == "apps" || t.group == "extensions") &&
      (t.kind == "Deployment" || t.kind == "StatefulSet" || t.kind == "DaemonSet" || t.kind == "ReplicaSet"))
    return Path{"spec", "template"};
  if (t.group == "batch" && t.kind == "Job") return Path{"spec", "template"};
  if (t.group == "batch" && t.kind == "CronJob") return Path{"spec", "jobTemplate", "spec", "template"};
  return std::nullopt;
}

}  // namespace

ObjectType type_of(const json& object) {
  ObjectType t;
  const json* api = find(object, "apiVersion");
  const json* kind = find(object, "kind");
  if (api && api->is_string()) {
    const auto& v = api->get_ref<const std::string&>();
    auto slash = v.find('/');
    t.group = slash == std::string::npos ? "" : v.substr(0, slash);
  }
  if (kind && kind->is_string()) t.kind = kind->get<std::string>();
  return t;
}

Result<Injection> inject(json object, const ObjectType& type, const Settings& settings) {
  auto unchanged = [&] { return Injection{std::move(object), false}; };
  auto where = template_of(type);
  if (!where || !object.is_object()) return unchanged();
  // Walk down without creating anything: a missing step, or one that is not an object, means no
  // pod template.
  const json* pod = &object;
  for (const auto& step : *where) {
    pod = find(*pod, step);
    if (!pod) return unchanged();
  }
  if (!pod->is_object()) return unchanged();
  const json* metadata = find(*pod, "metadata");
  const json* annotations = metadata ? find(*metadata, "annotations") : nullptr;
  const json* flag = annotations ? find(*annotations, kInjectAnnotation) : nullptr;
  if (!flag) return unchanged();
  if (!flag->is_string() || (*flag != "true" && *flag != "false"))
    return bad(kInjectAnnotation, "expected \"true\" or \"false\", got " + shown(flag->dump()));
  if (*flag == "false") return unchanged();
  const json* spec = find(*pod, "spec");
  if (!spec || !spec->is_object()) return bad(kInjectAnnotation, "the pod template has no spec");
  if (has_sidecar(*spec)) return unchanged();

  auto plan = read_plan(*annotations, settings);
  if (!plan) return std::move(plan).error();
  json* target = &object;
  for (const auto& step : *where) target = &(*target)[step];
  if (auto r = add_sidecar(*target, *plan); !r) return r.error();
  return Injection{std::move(object), true};
}

}  // namespace mcp_sidecar::inject

#include "inject/review.hpp"

#include "mcp/json_parse.hpp"

#include <boost/beast/core/detail/base64.hpp>

namespace mcp_sidecar::inject {

namespace {

using nlohmann::json;

constexpr std::size_t kMaxUidBytes = 256;

const json* find(const json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

// The string at `key`, or `fallback` when it is absent; nullopt when present but not a string.
std::optional<std::string> string_at(const json& j, std::string_view key, std::string fallback = "") {
  const json* v = find(j, key);
  if (!v) return fallback;
  if (!v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

std::string base64(const std::string& data) {
  namespace b64 = boost::beast::detail::base64;
  std::string out(b64::encoded_size(data.size()), '\0');
  out.resize(b64::encode(out.data(), data.data(), data.size()));
  return out;
}

ReviewAnswer invalid(std::string message, json fields = json::object()) {
  ReviewAnswer a;
  a.status = 400;
  a.outcome = "invalid";
  fields["reason"] = message;
  a.body = error_body({ErrorCode::bad_request, std::move(message)});
  a.fields = std::move(fields);
  return a;
}

}  // namespace

ReviewAnswer review(std::string_view body, const Settings& settings) {
  auto parsed = mcp::parse_json(body);
  if (!parsed) return invalid("the body is not JSON (or nests too deep)");
  const json& doc = *parsed;
  if (!doc.is_object()) return invalid("expected an AdmissionReview object");
  if (string_at(doc, "apiVersion") != "admission.k8s.io/v1") return invalid("expected apiVersion admission.k8s.io/v1");
  if (string_at(doc, "kind") != "AdmissionReview") return invalid("expected kind AdmissionReview");
  const json* request = find(doc, "request");
  if (!request || !request->is_object()) return invalid("expected a request object");
  auto uid = string_at(*request, "uid");
  if (!uid || uid->empty() || uid->size() > kMaxUidBytes) return invalid("expected request.uid (a non-empty string)");

  json fields = {{"uid", *uid}};
  const json* kind = find(*request, "kind");
  auto group = kind ? string_at(*kind, "group") : std::nullopt;
  auto kind_name = kind ? string_at(*kind, "kind") : std::nullopt;
  if (!group || !kind_name || kind_name->empty())
    return invalid("expected request.kind {group, version, kind}", std::move(fields));
  fields["kind"] = *kind_name;
  auto ns = string_at(*request, "namespace");
  auto operation = string_at(*request, "operation", "CREATE");
  auto sub_resource = string_at(*request, "subResource");
  if (!ns || !operation || !sub_resource)
    return invalid("request.namespace, operation and subResource must be strings", std::move(fields));
  if (!ns->empty()) fields["namespace"] = *ns;
  fields["operation"] = *operation;

  ReviewAnswer answer;
  answer.outcome = "unchanged";
  json response = {{"uid", *uid}, {"allowed", true}};
  const bool writes = *operation == "CREATE" || (*operation == "UPDATE" && !(group->empty() && *kind_name == "Pod"));
  if (writes && sub_resource->empty()) {
    const json* object = find(*request, "object");
    if (!object || !object->is_object()) return invalid("expected request.object", std::move(fields));
    auto injected = inject(*object, ObjectType{*group, *kind_name}, settings);
    if (!injected) {
      answer.outcome = "denied";
      fields["reason"] = injected.error().message;
      response["allowed"] = false;
      response["status"] = {{"code", 400}, {"message", injected.error().message}};
    } else if (injected->injected) {
      answer.outcome = "injected";
      response["patchType"] = "JSONPatch";
      response["patch"] =
          base64(json::diff(*object, injected->object).dump(-1, ' ', false, json::error_handler_t::replace));
    }
  }
  answer.body = {{"apiVersion", "admission.k8s.io/v1"}, {"kind", "AdmissionReview"}, {"response", std::move(response)}};
  answer.fields = std::move(fields);
  return answer;
}

}  // namespace mcp_sidecar::inject

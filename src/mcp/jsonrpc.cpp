#include "mcp/jsonrpc.hpp"

#include "core/json_write.hpp"

namespace mcp_sidecar::mcp {

bool valid_id(const json& id) { return id.is_string() || id.is_number_integer(); }

namespace {

template <class View>
MessageKind classify_view(View m) {
  if (!m.is_object() || !m["jsonrpc"].is_text("2.0")) return MessageKind::invalid;
  const View method = m["method"];
  const View id = m["id"];
  const auto valid_id = [&id] { return id.is_string() || id.is_number_integer(); };
  if (!method.absent()) {
    if (!method.is_string()) return MessageKind::invalid;
    if (const View params = m["params"]; !params.absent() && !params.is_object() && !params.is_array())
      return MessageKind::invalid;
    if (id.absent()) return MessageKind::notification;
    return valid_id() ? MessageKind::request : MessageKind::invalid;
  }
  if (id.absent()) return MessageKind::invalid;
  const bool has_result = m.contains("result");
  const View error = m["error"];
  if (has_result == !error.absent()) return MessageKind::invalid;
  if (has_result) return valid_id() ? MessageKind::result : MessageKind::invalid;
  if (!error["code"].is_number_integer()) return MessageKind::invalid;
  return MessageKind::error;  // id may be null for errors the peer could not attribute
}

}  // namespace

MessageKind classify(const json& message) { return classify_view(ValueView(message)); }
MessageKind classify(JsonView message) { return classify_view(message); }

const char* capability_for(std::string_view method) {
  return method == "sampling/createMessage" ? "sampling"
         : method == "elicitation/create"   ? "elicitation"
         : method == "roots/list"           ? "roots"
                                            : nullptr;
}

bool answers_server_requests(const json& capabilities) {
  return capabilities.is_object() &&
         (capabilities.contains("elicitation") || capabilities.contains("sampling") || capabilities.contains("roots"));
}

// Messages are built member by member: nlohmann's initializer lists first build a two-element
// array per member (allocations and moves), a visible part of a proxied call's cost.
namespace {
json::object_t& envelope(json& m) {
  m = json::object();
  auto& object = m.get_ref<json::object_t&>();
  object.emplace("jsonrpc", "2.0");
  return object;
}
}  // namespace

json make_request(json id, std::string_view method, json params) {
  json m;
  auto& object = envelope(m);
  object.emplace("id", std::move(id));
  object.emplace("method", method);
  if (!params.is_null()) object.emplace("params", std::move(params));
  return m;
}

std::string request_text(const json& id, std::string_view method, const json& params) {
  // The members in the order nlohmann's std::map keeps them: id, jsonrpc, method, params.
  std::string text;
  text.reserve(kJsonTextReserve);
  text = R"({"id":)";
  append_json(text, id);
  text += R"(,"jsonrpc":"2.0","method":)";
  append_json_string(text, method);
  if (!params.is_null()) {
    text += R"(,"params":)";
    append_json(text, params);
  }
  text += '}';
  return text;
}

json make_notification(std::string_view method, json params) {
  json m;
  auto& object = envelope(m);
  object.emplace("method", method);
  if (!params.is_null()) object.emplace("params", std::move(params));
  return m;
}

json make_result(json id, json result) {
  json m;
  auto& object = envelope(m);
  object.emplace("id", std::move(id));
  object.emplace("result", std::move(result));
  return m;
}

json result_message(const json& id, const json& result) {
  // The members in the order nlohmann's std::map keeps them: id, jsonrpc, result.
  std::string text;
  text.reserve(kJsonTextReserve);
  text = R"({"id":)";
  append_json(text, id, JsonErrors::replace);
  text += R"(,"jsonrpc":"2.0","result":)";
  append_json(text, result, JsonErrors::replace);
  text += '}';
  return json_text_value(text);
}

json make_error(json id, int code, std::string_view message, json data) {
  json error(json::value_t::object);
  auto& members = error.get_ref<json::object_t&>();
  members.emplace("code", code);
  members.emplace("message", message);
  if (!data.is_null()) members.emplace("data", std::move(data));
  json m;
  auto& object = envelope(m);
  object.emplace("id", std::move(id));
  object.emplace("error", std::move(error));
  return m;
}

}  // namespace mcp_sidecar::mcp

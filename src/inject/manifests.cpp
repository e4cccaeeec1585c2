#include "inject/manifests.hpp"

#include "inject/yaml.hpp"

namespace mcp_sidecar::inject {

namespace {

using nlohmann::json;

// "Deployment/web" for messages.
std::string object_name(const Ordered& object, const ObjectType& type) {
  std::string name = "(unnamed)";
  if (object.contains("metadata") && object.at("metadata").is_object()) {
    const auto& m = object.at("metadata");
    if (m.contains("name") && m.at("name").is_string())
      name = m.at("name").get<std::string>();
    else if (m.contains("generateName") && m.at("generateName").is_string())
      name = m.at("generateName").get<std::string>() + "*";
  }
  return (type.kind.empty() ? std::string("(no kind)") : type.kind) + "/" + name;
}

ObjectType type_of_ordered(const Ordered& object) {
  json head = json::object();
  for (const char* key : {"apiVersion", "kind"})
    if (object.contains(key)) head[key] = json(object.at(key));
  return type_of(head);
}

}  // namespace

Result<Manifests> inject_manifests(std::string_view text, const Settings& settings) {
  auto docs = read_yaml(text);
  if (!docs) return std::move(docs).error();
  Manifests result;
  std::string errors;
  // Injects one object in place: the engine works on the JSON, the change lands as its patch.
  auto one = [&](Ordered& object, const ObjectType& type, const std::string& where) {
    ++result.objects;
    json original(object);
    auto r = inject::inject(original, type, settings);
    if (!r) {
      errors += where + ": " + object_name(object, type) + ": " + r.error().message + "\n";
      return;
    }
    if (!r->injected) return;
    ++result.injected;
    object = object.patch(Ordered(json::diff(original, r->object)));
  };

  std::vector<Ordered> out;
  for (auto& doc : *docs) {
    const std::string where = "document " + std::to_string(doc.number) + " (line " + std::to_string(doc.line) + ")";
    Ordered& value = doc.value;
    if (!value.is_object()) {
      errors += where + ": expected a Kubernetes object (a mapping)\n";
      continue;
    }
    const ObjectType type = type_of_ordered(value);
    const bool list =
        type.kind.size() >= 4 && type.kind.ends_with("List") && value.contains("items") && value["items"].is_array();
    if (!list) {
      one(value, type, where);
    } else {
      // Items of a typed list (PodList) may leave out their own apiVersion and kind.
      const ObjectType item_default{type.group, type.kind.substr(0, type.kind.size() - 4)};
      auto& items = value["items"];
      for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string item_where = where + ", items[" + std::to_string(i) + "]";
        if (!items[i].is_object()) {
          errors += item_where + ": expected a Kubernetes object (a mapping)\n";
          continue;
        }
        ObjectType item_type = type_of_ordered(items[i]);
        if (item_type.kind.empty() && type.kind != "List") item_type = item_default;
        one(items[i], item_type, item_where);
      }
    }
    out.push_back(std::move(value));
  }
  if (!errors.empty()) {
    errors.pop_back();
    return Error{ErrorCode::bad_request, errors};
  }
  auto written = write_yaml(out);
  if (!written) return std::move(written).error();
  result.yaml = std::move(*written);
  return result;
}

}  // namespace mcp_sidecar::inject

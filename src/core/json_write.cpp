#include "core/json_write.hpp"

#include "core/json_scan.hpp"

#include <charconv>
#include <cstdint>
#include <string_view>

namespace mcp_sidecar {

namespace {

using json = nlohmann::json;

template <typename Integer>
void append_integer(std::string& out, Integer n) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
  out.append(digits, end);
}

}  // namespace

json json_text_value(std::string_view text) {
  return json::binary(json::binary_t::container_type(text.begin(), text.end()), kJsonTextSubtype);
}

bool is_json_text(const json& value) {
  return value.is_binary() && value.get_binary().has_subtype() && value.get_binary().subtype() == kJsonTextSubtype;
}

std::string_view json_text(const json& value) {
  const auto& bytes = value.get_binary();
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

void append_json_string(std::string& out, std::string_view s, JsonErrors errors) {
  // nlohmann writes a plain string as it is, between quotes. With ensure_ascii off it escapes
  // control characters, '"' and '\\', and checks every byte from 0x80 as UTF-8 (refusing or
  // replacing what is invalid): a string with any of those is left to nlohmann whole.
  if (!is_json_plain(s)) {
    out += json(s).dump(-1, ' ', false, errors);
    return;
  }
  out += '"';
  out += s;
  out += '"';
}

void append_json(std::string& out, const json& value, JsonErrors errors) {
  switch (value.type()) {
    case json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, member] : value.get_ref<const json::object_t&>()) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, key, errors);
        out += ':';
        append_json(out, member, errors);
      }
      out += '}';
      return;
    }
    case json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& element : value.get_ref<const json::array_t&>()) {
        if (!first) out += ',';
        first = false;
        append_json(out, element, errors);
      }
      out += ']';
      return;
    }
    case json::value_t::string:
      append_json_string(out, value.get_ref<const std::string&>(), errors);
      return;
    case json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      return;
    case json::value_t::null:
      out += "null";
      return;
    case json::value_t::number_integer:
      append_integer(out, value.get<std::int64_t>());
      return;
    case json::value_t::number_unsigned:
      append_integer(out, value.get<std::uint64_t>());
      return;
    case json::value_t::binary:
      if (is_json_text(value)) {
        out += json_text(value);
        return;
      }
      [[fallthrough]];
    default:  // floating point (shortest round trip), other binary values, discarded
      out += value.dump(-1, ' ', false, errors);
      return;
  }
}

std::string dump_json(const json& value, JsonErrors errors) {
  std::string out;
  out.reserve(kJsonTextReserve);
  append_json(out, value, errors);
  return out;
}

}  // namespace mcp_sidecar

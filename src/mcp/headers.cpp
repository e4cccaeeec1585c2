#include "mcp/headers.hpp"

#include <array>

namespace mcp_sidecar::mcp {

namespace {
constexpr std::string_view kSentinelStart = "=?base64?";
constexpr std::string_view kSentinelEnd = "?=";
constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> unbase64(std::string_view in) {
  static const std::array<int, 256> kIndex = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    for (std::size_t i = 0; i < kAlphabet.size(); ++i)
      t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
    return t;
  }();
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int pad = 0;
    unsigned v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=') {
        if (i + 4 != in.size() || k < 2) return std::nullopt;
        ++pad;
        v <<= 6;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after padding
      int d = kIndex[static_cast<unsigned char>(c)];
      if (d < 0) return std::nullopt;
      v = (v << 6) | static_cast<unsigned>(d);
    }
    out += static_cast<char>((v >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(v & 0xFF);
  }
  return out;
}

bool plain(std::string_view v) {
  if (v.empty()) return true;
  if (v.front() == ' ' || v.front() == '\t' || v.back() == ' ' || v.back() == '\t') return false;
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7E) return false;
  }
  return !(v.starts_with(kSentinelStart) && v.ends_with(kSentinelEnd));
}
}  // namespace

std::string encode_header_value(std::string_view value) {
  if (plain(value)) return std::string(value);
  return std::string(kSentinelStart) + base64(value) + std::string(kSentinelEnd);
}

std::optional<std::string> decode_header_value(std::string_view header) {
  if (header.size() >= kSentinelStart.size() + kSentinelEnd.size() && header.starts_with(kSentinelStart) &&
      header.ends_with(kSentinelEnd))
    return unbase64(header.substr(kSentinelStart.size(), header.size() - kSentinelStart.size() - kSentinelEnd.size()));
  for (char c : header) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7F) return std::nullopt;
  }
  return std::string(header);
}

void add_request_meta(nlohmann::json& params, std::string_view version, const nlohmann::json& client_info,
                      const nlohmann::json& client_capabilities) {
  if (!params.is_object()) params = nlohmann::json::object();
  auto& meta = params["_meta"];
  if (!meta.is_object()) meta = nlohmann::json::object();
  meta[std::string(kMetaProtocolVersion)] = version;
  if (!meta.contains(kMetaClientCapabilities)) meta[std::string(kMetaClientCapabilities)] = client_capabilities;
  if (!meta.contains(kMetaClientInfo)) meta[std::string(kMetaClientInfo)] = client_info;
}

std::optional<std::string> header_text(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number_integer()) return value.dump();
  return std::nullopt;
}

int error_code_of(const nlohmann::json& error) {
  if (!error.is_object()) return 0;
  auto code = error.find("code");
  return code != error.end() && code->is_number_integer() ? code->get<int>() : 0;
}

bool is_modern_error(unsigned http_status, int code) {
  if (http_status == 400)
    return code == kHeaderMismatch || code == kMissingRequiredClientCapability || code == kUnsupportedProtocolVersion;
  return http_status == 404 && code == -32601;
}

bool lists_version(const nlohmann::json& versions, std::string_view version) {
  if (!versions.is_array()) return false;
  for (const auto& v : versions)
    if (v.is_string() && v.get<std::string>() == version) return true;
  return false;
}

bool supports_version(const nlohmann::json& error, std::string_view version) {
  if (!error.is_object() || !error.contains("data") || !error["data"].is_object()) return false;
  const auto& data = error["data"];
  auto supported = data.find("supported");
  return supported != data.end() && lists_version(*supported, version);
}

}  // namespace mcp_sidecar::mcp

#include "http/request.hpp"

namespace mcp_sidecar::http {

Request::Request(verb method, std::string_view target, unsigned version) {
  start(method, boost::beast::http::to_string(method), target, version);
  keep_alive_ = version >= 11;
}

void Request::start(verb method, std::string_view method_string, std::string_view target, unsigned version) {
  reset(method_string.size() + target.size());
  method_ = method;
  version_ = version;
  method_at_ = append(method_string);
  target_at_ = append(target);
}

void RequestParser::on_request_impl(Request::verb method, string_view method_string, string_view target, int version,
                                    error_code&) {
  message_.start(method, method_string, target, static_cast<unsigned>(version));
}

bool plain_path_segments(std::string_view target, std::vector<std::string>& segments) {
  // RFC 3986 pchar without pct-encoded: unreserved, sub-delims, ':' and '@'.
  static constexpr auto plain = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("-._~!$&'()*+,;=:@").find(c) != std::string_view::npos;
  };
  if (target.empty() || target[0] != '/') return false;
  const std::size_t before = segments.size();
  if (target.size() == 1) return true;  // "/": no segments
  std::size_t start = 1;
  for (std::size_t i = 1; i <= target.size(); ++i) {
    if (i == target.size() || target[i] == '/') {
      segments.emplace_back(target.substr(start, i - start));
      start = i + 1;
    } else if (!plain(target[i])) {
      segments.resize(before);
      return false;
    }
  }
  return true;
}

}  // namespace mcp_sidecar::http

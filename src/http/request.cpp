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

}  // namespace mcp_sidecar::http

#include "http/upstream_response.hpp"

namespace mcp_sidecar::http {

void ResponseParser::on_response_impl(int code, string_view, int version, error_code&) {
  UpstreamResponse& r = message_;
  r.reset(0);
  r.status_ = static_cast<unsigned>(code);
  r.version_ = static_cast<unsigned>(version);
}

}  // namespace mcp_sidecar::http

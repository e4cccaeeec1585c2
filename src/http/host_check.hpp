// DNS-rebinding protection for local endpoints: a request must name a loopback host (or one the
// operator allowed) and, when it carries an Origin, come from a loopback origin. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mcp_sidecar::http {

// The host part of a Host header value ("localhost:7001" -> "localhost", "[::1]:80" -> "::1").
std::string_view host_of(std::string_view host_header);

// localhost, *.localhost, 127.0.0.0/8 and ::1, or a name listed in `allowed` (case-insensitive).
bool is_local_host(std::string_view host_header, const std::vector<std::string>& allowed);

// An Origin of http(s)://<local host>[:port]; "null" and anything else is foreign.
bool is_local_origin(std::string_view origin, const std::vector<std::string>& allowed);

}  // namespace mcp_sidecar::http

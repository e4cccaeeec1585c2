// A whole HTTP/1.1 message with a string body as one contiguous buffer: written with one write
// (one syscall, one TLS record) instead of Beast's serializer walking a view over the start
// line, every field and the body, which costs more than the rest of a proxied call. Messages
// with `Transfer-Encoding: chunked` are not serialized here (callers keep Beast's serializer).
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>

namespace mcp_sidecar::http {

// The message as sent on the wire; call prepare_payload() first (Content-Length).
std::string serialize(const boost::beast::http::request<boost::beast::http::string_body>& req);
std::string serialize(const boost::beast::http::response<boost::beast::http::string_body>& res);

}  // namespace mcp_sidecar::http

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

// A message the sidecar makes on a call's path (the upstream request, the client's answer),
// written as bytes field by field with no Beast message on the way: filling Beast's field
// container and walking it again cost more than the write itself. Fields go out in the order
// given, as Beast keeps them; names and values are the caller's (no CR or LF in them).
class WireMessage {
 public:
  // "POST /mcp HTTP/1.1"
  static WireMessage request(std::string_view method, std::string_view target);
  // "HTTP/1.1 200 OK" (version 10 or 11)
  static WireMessage response(unsigned status, unsigned version);

  WireMessage& field(std::string_view name, std::string_view value);
  // Content-Length and the body end the message. `send_body` false: the head only, with the
  // body's length (an answer to HEAD).
  std::string finish(std::string_view body, bool send_body = true) &&;
  // A request's end as Beast's prepare_payload() frames it: Content-Length when there is a
  // body, or for POST, PUT and OPTIONS (whose empty content means something); nothing else.
  std::string finish_request(boost::beast::http::verb method, std::string_view body) &&;

 private:
  WireMessage() = default;
  std::string text_;
};

}  // namespace mcp_sidecar::http

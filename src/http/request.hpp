// A request as the server read it: the request line, the header fields in the order they came
// (kept flat, http/fields.hpp), and the body. RequestParser fills one from the bytes on a
// connection, on top of Beast's parser.
#pragma once

#include "http/fields.hpp"

#include <boost/beast/http/verb.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace mcp_sidecar::http {

class Request : public FlatMessage {
 public:
  using verb = boost::beast::http::verb;

  Request() = default;
  // A request built in code (tests, examples): fields are added with insert().
  Request(verb method, std::string_view target, unsigned version);

  verb method() const { return method_; }
  std::string_view method_string() const { return text(method_at_); }
  std::string_view target() const { return text(target_at_); }

 private:
  friend class RequestParser;

  void start(verb method, std::string_view method_string, std::string_view target, unsigned version);

  verb method_ = verb::unknown;
  Span method_at_;
  Span target_at_;
};

// Reads one request into a Request. Fresh per request, as Beast's request_parser.
class RequestParser final : public FlatParser<true, Request> {
 private:
  void on_request_impl(Request::verb method, string_view method_string, string_view target, int version,
                       error_code& ec) override;
  void on_response_impl(int, string_view, int, error_code&) override {}
};

// The segments of an origin-form target whose path holds plain characters only (no percent
// escape) and which has no query, appended to `segments`: what Boost.URL's segments() gives for
// it, split where it lies, without parsing the URL. False (and `segments` unchanged) for any
// other target, which is for Boost.URL to parse.
bool plain_path_segments(std::string_view target, std::vector<std::string>& segments);

}  // namespace mcp_sidecar::http

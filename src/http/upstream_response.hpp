// A response as the sidecar's client read it from an upstream: the status code and version (the
// reason phrase is not kept: nothing reads it), the header fields in the order they came (kept
// flat, http/fields.hpp), and the body. ResponseParser fills one from the bytes on a connection,
// on top of Beast's parser.
#pragma once

#include "http/fields.hpp"

#include <boost/beast/http/status.hpp>

namespace mcp_sidecar::http {

class UpstreamResponse : public FlatMessage {
 public:
  using status = boost::beast::http::status;

  // The status as Beast names it (status::unknown for a code it does not know), and as sent.
  status result() const { return boost::beast::http::int_to_status(status_); }
  unsigned result_int() const { return status_; }

 private:
  friend class ResponseParser;

  unsigned status_ = 0;
};

// Reads one response into an UpstreamResponse. Fresh per response, as Beast's response_parser.
class ResponseParser final : public FlatParser<false, UpstreamResponse> {
 private:
  void on_request_impl(boost::beast::http::verb, string_view, string_view, int, error_code&) override {}
  void on_response_impl(int code, string_view reason, int version, error_code& ec) override;
};

}  // namespace mcp_sidecar::http

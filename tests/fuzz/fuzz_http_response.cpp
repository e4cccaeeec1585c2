// A response as the sidecar's client reads it from an upstream: ResponseParser checked against
// Beast's own response_parser on the same bytes, with the limits the client sets. The same
// verdict, the same status code and version, fields, keep-alive (the parser's, which also weighs the framing:
// a body that runs to the end of the connection does not keep it) and body, and the same after the
// connection ends (put_eof: a body that runs to the end of the connection). The first byte
// chooses whether the response answers a HEAD request (no body, whatever its headers say) and
// whether the body is parsed with the head.
#include "fuzz/field_lines.hpp"
#include "http/upstream_response.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>

namespace bhttp = boost::beast::http;

using fuzz::require;

namespace {

template <class Parser>
void configure(Parser& parser, std::uint8_t options) {
  parser.header_limit(16 * 1024);
  parser.body_limit(64 * 1024);
  parser.skip((options & 1) != 0);
  parser.eager((options & 2) != 0);
}

void compare(const bhttp::response_parser<bhttp::string_body>& beast, const boost::system::error_code& theirs_ec,
             const mcp_sidecar::http::ResponseParser& parser, const boost::system::error_code& ours_ec) {
  require(theirs_ec == ours_ec && beast.is_header_done() == parser.is_header_done() &&
          beast.is_done() == parser.is_done() && beast.got_some() == parser.got_some());
  if (theirs_ec || !beast.is_header_done()) return;
  const auto& theirs = beast.get();
  const auto& res = parser.get();
  require(theirs.result_int() == res.result_int() && theirs.result() == res.result() &&
          theirs.version() == res.version() && beast.keep_alive() == parser.keep_alive() &&
          res.keep_alive() == parser.keep_alive() && beast.chunked() == parser.chunked() &&
          beast.content_length() == parser.content_length());
  fuzz::same_fields(theirs, res);
  require(theirs.body() == res.body());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t options = data[0];
  const auto bytes = boost::asio::buffer(data + 1, size - 1);

  mcp_sidecar::http::ResponseParser parser;
  bhttp::response_parser<bhttp::string_body> beast;
  configure(parser, options);
  configure(beast, options);
  boost::system::error_code ours, theirs;
  parser.put(bytes, ours);
  beast.put(bytes, theirs);
  compare(beast, theirs, parser, ours);
  if (ours || parser.is_done() || !parser.got_some()) return 0;
  // The upstream closed the connection here.
  parser.put_eof(ours);
  beast.put_eof(theirs);
  compare(beast, theirs, parser, ours);
  return 0;
}

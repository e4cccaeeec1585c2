// A request as the listeners read it off the wire, then routed: the server's RequestParser with
// the limits the server sets (checked against Beast's own request_parser on the same bytes: the
// same verdict, and the same line, fields, keep-alive and body), the framing checks every
// listener applies (head_problem), the origin-form target split into path segments (the API's
// and the MCP endpoint's routing), the Host and Origin checks, and, for a JSON-RPC body, the
// 2026-07-28 header checks over the parsed header fields (repeated fields, odd spellings, odd
// values).
#include "fuzz/field_lines.hpp"
#include "http/host_check.hpp"
#include "http/server.hpp"
#include "mcp/json_parse.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/modern.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/url/parse.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace bhttp = boost::beast::http;

namespace {

using fuzz::require;

// Beast's request_parser over the same bytes must agree with what the server's parser made.
void compare_with_beast(const std::uint8_t* data, std::size_t size, const boost::system::error_code& ours,
                        const mcp_sidecar::http::RequestParser& parser) {
  bhttp::request_parser<bhttp::string_body> beast;
  beast.header_limit(16 * 1024);
  beast.body_limit(64 * 1024);
  beast.eager(true);
  boost::system::error_code ec;
  beast.put(boost::asio::buffer(data, size), ec);
  require(ec == ours && beast.is_header_done() == parser.is_header_done() && beast.is_done() == parser.is_done());
  if (ec || !beast.is_header_done()) return;
  const auto& theirs = beast.get();
  const auto& req = parser.get();
  require(theirs.method() == req.method() && theirs.method_string() == req.method_string() &&
          theirs.target() == req.target() && theirs.version() == req.version() &&
          theirs.keep_alive() == req.keep_alive());
  fuzz::same_fields(theirs, req);
  if (beast.is_done()) require(theirs.body() == req.body());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  mcp_sidecar::http::RequestParser parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(64 * 1024);
  parser.eager(true);
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  compare_with_beast(data, size, ec, parser);
  if (ec || !parser.is_header_done()) return 0;
  const auto& req = parser.get();
  if (!mcp_sidecar::http::head_problem(req).empty()) return 0;  // refused with 400 before routing

  (void)mcp_sidecar::http::is_local_host(req[bhttp::field::host], {"allowed.example"});
  (void)mcp_sidecar::http::is_local_origin(req[bhttp::field::origin], {});
  if (auto target = boost::urls::parse_origin_form(req.target())) {
    std::vector<std::string> segments;
    for (auto s : target->segments()) segments.push_back(s);
    for (auto p : target->params()) (void)p.value;
  }
  if (!parser.is_done()) return 0;
  auto body = mcp_sidecar::mcp::parse_json(req.body());
  if (!body || mcp_sidecar::mcp::classify(*body) != mcp_sidecar::mcp::MessageKind::request) return 0;
  (void)mcp_sidecar::mcp::check_modern_request(*body, mcp_sidecar::mcp::lookup_in(req), {"2026-07-28", "2025-11-25"});
  return 0;
}

#include "outbound/api.hpp"

#include "http/host_check.hpp"
#include "http/request.hpp"
#include "mcp/case_id.hpp"
#include "mcp/json_parse.hpp"
#include "telemetry/call_recorder.hpp"

#include <boost/url/parse.hpp>

#include <optional>
#include <string>
#include <vector>

namespace mcp_sidecar::outbound {

namespace bhttp = boost::beast::http;

// What the caller can answer in an input_required result, as 2026-07-28 client capabilities.
constexpr std::string_view kClientCapabilitiesHeader = "X-MCP-Client-Capabilities";

asio::awaitable<void> respond_error(http::Exchange& ex, Error error, unsigned version, std::string_view case_id_header,
                                    std::string_view case_id) {
  auto res = http::make_json_response(http_status(error.code), error_body(error), version);
  if (int seconds = retry_after(error)) res.set(bhttp::field::retry_after, std::to_string(seconds));
  if (error.code == ErrorCode::method_not_allowed) res.set(bhttp::field::allow, "GET, POST");
  if (!case_id.empty()) res.set(case_id_header, case_id);
  co_await ex.respond(std::move(res));
}

Api::Api(const config::OutboundConfig& config, std::map<std::string, Upstream*, std::less<>> upstreams,
         Metrics& metrics, CallLog& calls, std::function<std::uint64_t()> random64, std::string version)
    : config_(config),
      upstreams_(std::move(upstreams)),
      metrics_(metrics),
      calls_(calls),
      random64_(random64),
      mcp_(config, metrics, calls, std::move(random64), std::move(version)) {}

// Routes a request. Not a coroutine itself (each way on is one), so a call costs no frame here:
// what it hands on must not point into its locals (arguments by value, or the request's own).
asio::awaitable<void> Api::handle(http::Request& req, http::Exchange& ex) {
  const unsigned version = req.version();
  // DNS rebinding: a browser page must not reach the local API through a name it controls.
  auto host = req[bhttp::field::host];
  if ((host.empty() && version >= 11) || (!host.empty() && !http::is_local_host(host, config_.allowed_hosts)))
    return respond_error(ex, make_error(ErrorCode::forbidden, "Host must be a loopback name"), version);
  if (auto origin = req[bhttp::field::origin]; !origin.empty() && !http::is_local_origin(origin, config_.allowed_hosts))
    return respond_error(ex, make_error(ErrorCode::forbidden, "cross-origin requests are refused"), version);

  std::vector<std::string> seg;
  std::optional<boost::urls::url_view> parsed;  // a target with a query or escapes
  if (!http::plain_path_segments(req.target(), seg)) {
    auto target = boost::urls::parse_origin_form(req.target());
    if (!target) return respond_error(ex, make_error(ErrorCode::bad_request, "malformed request target"), version);
    parsed = *target;
    for (auto s : parsed->segments()) seg.push_back(s);
  }

  const auto method = req.method();
  auto not_allowed = [&]() {
    return respond_error(ex, make_error(ErrorCode::method_not_allowed, "method not allowed"), version);
  };
  if ((seg.size() == 2 || seg.size() == 3) && seg[0] == "mcp") {
    auto it = upstreams_.find(seg[1]);
    if (it == upstreams_.end())
      return respond_error(ex, make_error(ErrorCode::unknown_server, "no server of that name is configured"), version);
    if (seg.size() == 2) return mcp_.handle(req, ex, *it->second);
    if (seg[2] == "sse") return mcp_.handle_legacy_stream(req, ex, *it->second);
    if (seg[2] == "messages") {
      std::string session_id;
      if (parsed) {  // a target without a query is plain
        if (auto p = parsed->params().find("sessionId"); p != parsed->params().end()) session_id = (*p).value;
      }
      return mcp_.handle_legacy_post(req, ex, *it->second, std::move(session_id));
    }
  }
  if (seg.size() >= 2 && seg[0] == "v1" && seg[1] == "servers") {
    if (seg.size() == 2) {
      if (method != bhttp::verb::get) return not_allowed();
      return list_servers(req, ex);
    }
    auto it = upstreams_.find(seg[2]);
    if (it == upstreams_.end())
      return respond_error(ex, make_error(ErrorCode::unknown_server, "no server of that name is configured"), version);
    if (seg.size() == 4 && seg[3] == "tools") {
      if (method != bhttp::verb::get) return not_allowed();
      return list_tools(req, ex, *it->second);
    }
    if (seg.size() == 5 && seg[3] == "tools" && !seg[4].empty()) {
      if (method != bhttp::verb::post) return not_allowed();
      return call_tool(req, ex, *it->second, std::move(seg[4]), false);
    }
    if (seg.size() == 6 && seg[3] == "tools" && !seg[4].empty() && seg[5] == "retry") {
      if (method != bhttp::verb::post) return not_allowed();
      return call_tool(req, ex, *it->second, std::move(seg[4]), true);
    }
  }
  return respond_error(ex, make_error(ErrorCode::not_found, "no such endpoint"), version);
}

asio::awaitable<void> Api::list_servers(http::Request& req, http::Exchange& ex) {
  json servers = json::array();
  for (const auto& [name, upstream] : upstreams_) {
    json d = upstream->debug();
    servers.push_back({{"name", name},
                       {"url", upstream->config().url},
                       {"transport", d["transport"]},
                       {"era", d.value("era", json())},
                       {"pool_size", d["size"]},
                       {"ready_sessions", std::count_if(d["sessions"].begin(), d["sessions"].end(),
                                                        [](const json& s) { return s["state"] == "ready"; })},
                       {"unavailable", d["unavailable"]}});
  }
  json body = {{"servers", std::move(servers)}};
  co_await ex.respond(http::make_json_response(200, body, req.version()));
}

asio::awaitable<void> Api::list_tools(http::Request& req, http::Exchange& ex, Upstream& upstream) {
  auto catalog = co_await upstream.tools(upstream.call_deadline());
  if (!catalog) co_return co_await respond_error(ex, catalog.error(), req.version());
  json body = {{"tools", catalog.value()->listed()}};
  co_await ex.respond(http::make_json_response(200, body, req.version()));
}

namespace {
// The body of a retry after input_required: {"arguments"?, "inputResponses"?, "requestState"?}.
std::optional<std::string> split_retry(json& body, json& arguments, json& retry) {
  for (const auto& [key, value] : body.items())
    if (key != "arguments" && key != "inputResponses" && key != "requestState")
      return "unknown key '" + key + "' in a retry body (arguments, inputResponses, requestState)";
  if (body.contains("arguments")) {
    if (!body["arguments"].is_object()) return "arguments must be an object";
    arguments = std::move(body["arguments"]);
  }
  if (body.contains("inputResponses")) {
    if (!body["inputResponses"].is_object()) return "inputResponses must be an object";
    retry["inputResponses"] = std::move(body["inputResponses"]);
  }
  if (body.contains("requestState")) {
    if (!body["requestState"].is_string()) return "requestState must be a string, passed back as received";
    retry["requestState"] = std::move(body["requestState"]);
  }
  if (retry.empty()) return "a retry carries inputResponses or requestState";
  return std::nullopt;
}
}  // namespace

asio::awaitable<void> Api::call_tool(http::Request& req, http::Exchange& ex, Upstream& upstream, std::string tool,
                                     bool retry) {
  const unsigned version = req.version();
  const auto deadline = upstream.call_deadline();
  CallRecorder rec(metrics_, calls_, "outbound", upstream.name(), "tools/call", tool, "");
  auto fail = [&](Error e, std::string_view case_id = {}) -> asio::awaitable<void> {
    rec.set_tool_listed(upstream.lists_tool(tool));
    rec.finish(outcome_label(e.code), code_name(e.code));
    co_await respond_error(ex, e, version, config_.case_id.header, case_id);
  };

  if (auto ct = req[bhttp::field::content_type]; !ct.empty() && !ct.starts_with("application/json"))
    co_return co_await fail(make_error(ErrorCode::bad_request, "Content-Type must be application/json"));
  json arguments = json::object();
  Upstream::CallExtras extras;
  if (!req.body().empty()) {
    auto parsed = mcp::parse_json(req.body());
    if (!parsed || !parsed->is_object())
      co_return co_await fail(
          make_error(ErrorCode::bad_request,
                     retry ? "the body must be a JSON object" : "the body must be a JSON object of tool arguments"));
    if (!retry) {
      arguments = std::move(*parsed);
    } else if (auto why = split_retry(*parsed, arguments, extras.retry)) {
      co_return co_await fail(make_error(ErrorCode::bad_request, *why));
    }
  } else if (retry) {
    co_return co_await fail(make_error(ErrorCode::bad_request, "a retry carries inputResponses or requestState"));
  }
  if (auto caps = req.find(kClientCapabilitiesHeader); caps != req.end()) {
    auto parsed = mcp::parse_json(caps->value());
    if (!parsed || !parsed->is_object())
      co_return co_await fail(
          make_error(ErrorCode::bad_request, std::string(kClientCapabilitiesHeader) + " must be a JSON object"));
    extras.client_capabilities = std::move(*parsed);
  }
  auto header = req[config_.case_id.header];
  std::optional<std::string_view> header_value;
  if (req.find(config_.case_id.header) != req.end()) header_value = std::string_view(header.data(), header.size());
  auto case_id = mcp::resolve_case_id(header_value, arguments, config_.case_id.argument, random64_);
  if (!case_id) co_return co_await fail(case_id.error());
  rec.set_case_id(case_id.value());
  rec.start();

  auto result = co_await upstream.call_tool(tool, std::move(arguments), case_id.value(), deadline, extras);
  rec.set_tool_listed(upstream.lists_tool(tool));
  if (!result) co_return co_await fail(std::move(result).error(), case_id.value());

  const json& r = result.value();
  // An InputRequiredResult goes back intact: the caller answers it through .../retry.
  const bool input_required = r.contains("resultType") && r["resultType"] == "input_required";
  const bool tool_error = r.contains("isError") && r["isError"] == true;
  rec.finish(input_required ? "input_required" : tool_error ? "tool_error" : "ok");
  auto res = http::make_json_response(200, r, version);
  res.set(config_.case_id.header, case_id.value());
  co_await ex.respond(std::move(res));
}

}  // namespace mcp_sidecar::outbound

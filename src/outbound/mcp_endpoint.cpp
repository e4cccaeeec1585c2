#include "outbound/mcp_endpoint.hpp"

#include "mcp/case_id.hpp"
#include "mcp/headers.hpp"
#include "mcp/json_parse.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/modern.hpp"
#include "mcp/protocol.hpp"
#include "telemetry/call_recorder.hpp"

namespace mcp_sidecar::outbound {

namespace bhttp = boost::beast::http;

namespace {

const std::vector<std::string> kServedRevisions = {std::string(mcp::kStatelessRevision)};

http::Response rpc_error(unsigned status, const json& id, int code, std::string_view message, unsigned version,
                         json data = nullptr) {
  return http::make_json_response(status, mcp::make_error(id, code, message, std::move(data)), version);
}

// Answers; whether the client was still there to read it changes nothing here.
asio::awaitable<void> send(http::Exchange& ex, http::Response res) { co_await ex.respond(std::move(res)); }

}  // namespace

McpEndpoint::McpEndpoint(const config::OutboundConfig& config, Metrics& metrics, CallLog& calls,
                         std::function<std::uint64_t()> random64, std::string version)
    : config_(config), metrics_(metrics), calls_(calls), random64_(std::move(random64)), version_(std::move(version)) {}

json McpEndpoint::discover_result(const Upstream& upstream) const {
  return {{"supportedVersions", kServedRevisions},
          {"capabilities", {{"tools", {{"listChanged", false}}}}},
          {"resultType", "complete"},
          {"ttlMs", 0},
          {"cacheScope", "public"},
          {"_meta",
           {{std::string(mcp::kMetaServerInfo), {{"name", "mcp-sidecar/" + upstream.name()}, {"version", version_}}}}}};
}

asio::awaitable<void> McpEndpoint::handle(http::Request& req, http::Exchange& ex, Upstream& upstream) {
  const unsigned version = req.version();
  if (req.method() != bhttp::verb::post) {
    // 2026-07-28 has no GET stream and no session to DELETE.
    auto res = rpc_error(405, nullptr, mcp::kInvalidRequest, "Method not allowed: this endpoint takes POST", version);
    res.set(bhttp::field::allow, "POST");
    co_return co_await send(ex, std::move(res));
  }
  if (auto ct = req[bhttp::field::content_type]; !ct.starts_with("application/json"))
    co_return co_await send(
        ex, rpc_error(415, nullptr, mcp::kInvalidRequest, "Content-Type must be application/json", version));
  auto parsed = mcp::parse_json(req.body());
  if (!parsed) co_return co_await send(ex, rpc_error(400, nullptr, mcp::kParseError, "Parse error", version));
  json& message = *parsed;
  if (message.is_array())
    co_return co_await send(
        ex, rpc_error(400, nullptr, mcp::kInvalidRequest, "batches are not part of revision 2026-07-28", version));
  switch (mcp::classify(message)) {
    case mcp::MessageKind::notification: {
      auto accepted = http::make_response(202, std::string(), "application/json", version);
      co_return co_await send(ex, std::move(accepted));
    }
    case mcp::MessageKind::request:
      break;
    default:
      co_return co_await send(ex,
                              rpc_error(400, nullptr, mcp::kInvalidRequest, "expected a JSON-RPC request", version));
  }
  const json& id = message["id"];
  const std::string method = message["method"];

  if (method == "initialize") {
    // A client of the session revisions: name what this endpoint speaks (it has no fall-forward).
    json data = {{"supported", kServedRevisions}};
    auto refused = rpc_error(400, id, mcp::kUnsupportedProtocolVersion,
                             "this endpoint speaks MCP revision 2026-07-28 only", version, std::move(data));
    co_return co_await send(ex, std::move(refused));
  }
  const mcp::HeaderLookup header = mcp::lookup_in(req);
  if (auto refusal = mcp::check_modern_request(message, header, kServedRevisions))
    co_return co_await send(
        ex, rpc_error(refusal->status, id, refusal->code, refusal->message, version, std::move(refusal->data)));

  if (method == "server/discover")
    co_return co_await send(ex,
                            http::make_json_response(200, mcp::make_result(id, discover_result(upstream)), version));
  if (method == "tools/list") {
    auto catalog = co_await upstream.tools(upstream.call_deadline());
    if (!catalog) {
      const Error& e = catalog.error();
      co_return co_await send(ex, rpc_error(http_status(e.code), id, jsonrpc_code(e.code), e.message, version));
    }
    // Cacheable for what the upstream allowed (else the sidecar's own cache lifetime), and
    // private when the upstream scoped it so.
    const auto& tools = *catalog.value();
    const long long ttl = tools.ttl_ms() ? *tools.ttl_ms() : config_.tools_cache_ttl.count();
    json result = {{"tools", tools.listed()},
                   {"resultType", "complete"},
                   {"ttlMs", ttl},
                   {"cacheScope", tools.private_scope() ? "private" : "public"}};
    co_return co_await send(ex, http::make_json_response(200, mcp::make_result(id, std::move(result)), version));
  }
  if (method == "tools/call") co_return co_await call_tool(req, ex, upstream, message);
  co_return co_await send(ex, rpc_error(404, id, mcp::kMethodNotFound, "Method not found", version));
}

asio::awaitable<void> McpEndpoint::call_tool(http::Request& req, http::Exchange& ex, Upstream& upstream,
                                             const json& message) {
  const unsigned version = req.version();
  const json& id = message["id"];
  const json& params = message["params"];
  const auto deadline = upstream.call_deadline();
  if (!params.contains("name") || !params["name"].is_string() ||
      (params.contains("arguments") && !params["arguments"].is_object()))
    co_return co_await send(
        ex, rpc_error(200, id, mcp::kInvalidParams, "tools/call needs a name and an arguments object", version));
  const std::string tool = params["name"];
  json arguments = params.value("arguments", json::object());
  const json meta = params.value("_meta", json::object());

  CallRecorder rec(metrics_, calls_, "outbound", upstream.name(), "tools/call", tool, "");
  auto fail = [&](const Error& e, std::string_view case_id = {}) -> asio::awaitable<void> {
    rec.set_tool_listed(upstream.lists_tool(tool));
    rec.finish(outcome_label(e.code), code_name(e.code));
    // A JSON-RPC error from the upstream is the client's answer as it was; the sidecar's own
    // failures keep their status (503 + Retry-After, 504, ...).
    // (-32020/-32021/-32022 are 400s in 2026-07-28, as the upstream sent them.)
    const int upstream_code = mcp::error_code_of(e.detail);
    const unsigned upstream_status = mcp::is_modern_error(400, upstream_code) ? 400 : 200;
    http::Response res = e.detail.is_object() && e.detail.contains("code")
                             ? http::make_json_response(
                                   upstream_status, json{{"jsonrpc", "2.0"}, {"id", id}, {"error", e.detail}}, version)
                         : e.code == ErrorCode::unknown_tool
                             ? rpc_error(200, id, mcp::kInvalidParams, "Unknown tool: " + tool, version)
                             : rpc_error(http_status(e.code), id, jsonrpc_code(e.code), e.message, version,
                                         json{{"code", code_name(e.code)}});
    if (e.retry_after_seconds > 0) res.set(bhttp::field::retry_after, std::to_string(e.retry_after_seconds));
    if (!case_id.empty()) res.set(config_.case_id.header, case_id);
    co_await ex.respond(std::move(res));
  };

  // The tool's x-mcp-header parameters must agree with their Mcp-Param-* headers.
  auto catalog = co_await upstream.tools(deadline);
  if (!catalog) co_return co_await fail(catalog.error());
  if (const auto* info = catalog.value()->find(tool)) {
    const mcp::HeaderLookup header = mcp::lookup_in(req);
    if (auto refusal = mcp::check_param_headers(info->header_params, arguments, header)) {
      rec.finish("rejected", "header_mismatch");
      co_return co_await send(ex, rpc_error(refusal->status, id, refusal->code, refusal->message, version));
    }
  }

  // case_id: the header, else the _meta key, else the argument, else a new one.
  std::optional<std::string_view> case_header;
  if (auto it = req.find(config_.case_id.header); it != req.end())
    case_header = std::string_view(it->value().data(), it->value().size());
  std::string meta_case_id;
  if (!case_header && meta.is_object() && meta.contains(config_.case_id.meta_key) &&
      meta[config_.case_id.meta_key].is_string()) {
    meta_case_id = meta[config_.case_id.meta_key];
    case_header = meta_case_id;
  }
  auto case_id = mcp::resolve_case_id(case_header, arguments, config_.case_id.argument, random64_);
  if (!case_id) co_return co_await fail(case_id.error());
  rec.set_case_id(case_id.value());
  rec.start();

  Upstream::CallExtras extras;
  for (const char* key : {"inputResponses", "requestState"})
    if (params.contains(key)) extras.retry[key] = params[key];
  if (meta.is_object() && meta.contains(mcp::kMetaClientCapabilities))
    extras.client_capabilities = meta[std::string(mcp::kMetaClientCapabilities)];

  auto result = co_await upstream.call_tool(tool, std::move(arguments), case_id.value(), deadline, extras);
  rec.set_tool_listed(upstream.lists_tool(tool));
  if (!result) co_return co_await fail(result.error(), case_id.value());

  json& r = result.value();
  const bool input_required = r.contains("resultType") && r["resultType"] == "input_required";
  const bool tool_error = r.contains("isError") && r["isError"] == true;
  rec.finish(input_required ? "input_required" : tool_error ? "tool_error" : "ok");
  if (!r.contains("resultType")) r["resultType"] = "complete";  // an upstream of an earlier revision
  auto res = http::make_json_response(200, mcp::make_result(id, std::move(r)), version);
  res.set(config_.case_id.header, case_id.value());
  co_await ex.respond(std::move(res));
}

}  // namespace mcp_sidecar::outbound

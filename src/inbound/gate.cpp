#include "inbound/gate.hpp"

#include "core/json_write.hpp"
#include "http/wire.hpp"
#include "mcp/headers.hpp"
#include "mcp/json_parse.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/modern.hpp"
#include "mcp/protocol.hpp"
#include "mcp/sse_framer.hpp"
#include "telemetry/call_recorder.hpp"
#include "telemetry/metrics.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>

namespace mcp_sidecar::inbound {

namespace bhttp = boost::beast::http;
using json = nlohmann::json;

namespace {

constexpr std::string_view kIdentityHeader = "X-MCP-Client-Identity";
constexpr std::size_t kMaxBufferedResponse = 16 << 20;
constexpr std::size_t kMaxEventBytes = 16 << 20;
constexpr std::size_t kMaxParkedPerSession = 1024;

// MCP over HTTP uses POST, GET and DELETE (HEAD is GET without the body; the legacy transport's
// GET /sse and POST /messages are among them). Nothing else reaches the server.
constexpr std::string_view kAllowedMethods = "GET, HEAD, POST, DELETE";

bool forwardable(bhttp::verb method) {
  return method == bhttp::verb::post || method == bhttp::verb::get || method == bhttp::verb::delete_ ||
         method == bhttp::verb::head;
}

// Headers that tell a server who the caller is: the gate sets X-MCP-Client-Identity itself, and
// servers behind proxies read X-Forwarded-Client-Cert as the client's certificate. Matched in
// every spelling a server may read as the same name: case and '-' or '_' (CGI and WSGI map both
// to HTTP_X_MCP_CLIENT_IDENTITY).
bool names_identity(std::string_view name) {
  static constexpr std::string_view kIdentity[] = {"x-mcp-client-identity", "x-forwarded-client-cert"};
  for (auto h : kIdentity) {
    if (name.size() != h.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < h.size() && same; ++i) {
      const char c = name[i] == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
      same = c == h[i];
    }
    if (same) return true;
  }
  return false;
}

bool is_hop_by_hop(std::string_view name) {
  static constexpr std::string_view kHopByHop[] = {"connection",          "keep-alive", "proxy-authenticate",
                                                   "proxy-authorization", "te",         "trailer",
                                                   "transfer-encoding",   "upgrade",    "proxy-connection"};
  for (auto h : kHopByHop)
    if (boost::beast::iequals(name, h)) return true;
  return false;
}

// Header names the Connection header lists are hop-by-hop too.
template <class Fields>
bool listed_in_connection(const Fields& fields, std::string_view name) {
  auto connection = fields[bhttp::field::connection];
  std::size_t start = 0;
  while (start < connection.size()) {
    auto comma = connection.find(',', start);
    auto token = connection.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (boost::beast::iequals(token, name)) return true;
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return false;
}

std::string id_key(const json& id) { return id.dump(); }

json rpc_error(const json& id, ErrorCode code, std::string_view message) {
  return mcp::make_error(id, jsonrpc_code(code), message);
}

http::Response json_reply(unsigned status, const json& body, unsigned version) {
  return http::make_json_response(status, body, version);
}

}  // namespace

// What the gate still owes callers for requests it let through: a tools/list to filter or a
// tools/call to account for, keyed by JSON-RPC id.
struct Gate::Pending {
  struct Entry {
    bool list = false;
    std::string caller;
    std::unique_ptr<CallRecorder> call;
    TimePoint at = Clock::now();
  };
  std::map<std::string, Entry> entries;
};

// One forwarded request and what the gate learned about it.
struct Gate::Exchange {
  Caller caller;
  std::string session;                // Mcp-Session-Id, or the legacy transport's sessionId
  std::shared_ptr<bool> client_gone;  // set once the client left a stream being forwarded
  std::shared_ptr<Pending> pending = std::make_shared<Pending>();
  std::vector<json> denied;  // JSON-RPC errors for denied batch elements, sent with the answer
  // Calls the answer being forwarded ends (settle): recorded once it is written, so that the
  // client does not wait for their log lines and metrics.
  std::vector<std::unique_ptr<CallRecorder>> answered;
};

Gate::Gate(asio::any_io_executor ex, const config::InboundConfig& config, const config::CaseIdConfig& case_id,
           Metrics& metrics, CallLog& calls)
    : ex_(ex),
      config_(config),
      case_id_(case_id),
      metrics_(metrics),
      calls_(calls),
      auth_(config.effective_mode(), metrics),
      policy_(std::make_shared<Policy>(config.policy, config.policy_set)),
      upstream_(ex, *http::parse_url(config.forward_to),
                {config.max_upstream_connections, std::chrono::seconds(4), config.connect_timeout, {}}),
      probe_wake_(ex) {}

Gate::~Gate() { stop(); }

void Gate::start() { asio::co_spawn(ex_, probe_loop(), asio::detached); }

void Gate::stop() {
  stopping_ = true;
  probe_wake_.notify_all();
}

asio::awaitable<void> Gate::probe_loop() {
  const auto& url = upstream_.url();
  while (!stopping_) {
    boost::beast::tcp_stream probe(ex_);
    probe.expires_after(config_.connect_timeout);
    boost::system::error_code ec;
    auto address = asio::ip::make_address(url.host, ec);
    if (!ec) {
      auto [cec] = co_await probe.async_connect(
          asio::ip::tcp::endpoint(address, static_cast<unsigned short>(std::stoi(url.port))),
          asio::as_tuple(asio::use_awaitable));
      ec = cec;
    }
    bool ready = !ec;
    if (ready != local_ready_) {
      if (ready)
        log::info("local_server_ready", {{"server", config_.name}});
      else
        log::warn("local_server_unreachable", {{"server", config_.name}, {"error", ec.message()}});
    }
    local_ready_ = ready;
    probe.close();
    if (stopping_) break;
    co_await probe_wake_.wait_until(Clock::now() + config_.readiness_interval);
  }
}

asio::awaitable<void> Gate::handle(http::Request& req, http::Exchange& ex) {
  const unsigned version = req.version();
  auto who = auth_.authenticate(req, ex.peer());
  if (!who) {
    auto res = json_reply(401, rpc_error(nullptr, ErrorCode::unauthenticated, who.error().message), version);
    if (auth_.mode() != config::AuthMode::mtls) res.set(bhttp::field::www_authenticate, "Bearer realm=\"mcp-sidecar\"");
    co_await ex.respond(std::move(res));
    co_return;
  }
  if (!forwardable(req.method())) {
    auto res = json_reply(405, rpc_error(nullptr, ErrorCode::method_not_allowed, "method not allowed"), version);
    res.set(bhttp::field::allow, kAllowedMethods);
    co_await ex.respond(std::move(res));
    co_return;
  }
  // A path on the local server, never a URL naming another (absolute-form) or none ('*').
  auto target = boost::urls::parse_origin_form(req.target());
  if (!target) {
    co_await ex.respond(
        json_reply(400, rpc_error(nullptr, ErrorCode::bad_request, "the request target is not a path"), version));
    co_return;
  }
  Exchange state;
  state.caller = std::move(who).value();
  state.session = std::string(req[mcp::kSessionIdHeader]);
  if (state.session.empty()) {  // legacy HTTP+SSE: POST /messages?sessionId=...
    auto params = target->params();
    if (auto it = params.find("sessionId"); it != params.end()) state.session = "legacy:" + (*it).value;
  }

  if (req.method() != bhttp::verb::post || req.body().empty()) co_return co_await forward(req, ex, state, req.body());

  // The body is read in place and, unless something in it is refused, forwarded as it came.
  bool duplicate_keys = false;
  auto document = mcp::JsonDocument::parse(std::move(req.body()), &duplicate_keys);
  const mcp::JsonView parsed = document ? document->root() : mcp::JsonView();
  if (!parsed.is_object() && !parsed.is_array()) {
    co_await ex.respond(
        json_reply(400, mcp::make_error(nullptr, mcp::kParseError, "the body is not a JSON-RPC message"), version));
    co_return;
  }
  const bool batch = parsed.is_array();
  std::vector<mcp::JsonView> messages;
  if (batch)
    parsed.for_each_element([&messages](mcp::JsonView m) { messages.push_back(m); });
  else
    messages.push_back(parsed);
  // Only JSON-RPC messages pass: servers read malformed ones their own way (the official SDK
  // takes an id of 3.0 for 3), so what the gate did not authorize could still run.
  const auto valid = [](mcp::JsonView m) { return mcp::classify(m) != mcp::MessageKind::invalid; };
  if (messages.empty() || !std::all_of(messages.begin(), messages.end(), valid)) {
    co_await ex.respond(
        json_reply(400, mcp::make_error(nullptr, mcp::kInvalidRequest, "not a JSON-RPC message"), version));
    co_return;
  }
  if (auto refusal = check_modern(req, parsed)) {
    // The server never sees it: a header that names an allowed tool must not carry a call to
    // another one past the policy.
    metrics_.http_rejections_total.Add({{"listener", "inbound"}, {"reason", "header_mismatch"}}).Increment();
    warnings_.warn("mismatch:" + state.caller.identity, "header_mismatch",
                   {{"server", config_.name}, {"caller", state.caller.identity}, {"reason", refusal->message}});
    const json id = parsed["id"].value();
    co_await ex.respond(json_reply(refusal->status, mcp::make_error(id, refusal->code, refusal->message), version));
    co_return;
  }
  std::vector<mcp::JsonView> forwarded;
  bool dropped = false;  // a denied notification: not forwarded, and nothing to answer
  const auto policy = policy_;
  for (const mcp::JsonView m : messages) {
    const auto kind = mcp::classify(m);
    if (kind != mcp::MessageKind::request && kind != mcp::MessageKind::notification) {
      forwarded.push_back(m);
      continue;
    }
    const std::string method(m["method"].str());
    const mcp::JsonView params = m["params"];  // reads nothing when not an object
    auto name_of = [&params](const char* key) { return std::string(params[key].str()); };
    std::optional<std::pair<Target, std::string>> target;
    if (method == "tools/call")
      target.emplace(Target::tool, name_of("name"));
    else if (method == "prompts/get")
      target.emplace(Target::prompt, name_of("name"));
    else if (method == "resources/read")
      target.emplace(Target::resource, name_of("uri"));

    std::unique_ptr<CallRecorder> recorder;
    if (method == "tools/call" && kind == mcp::MessageKind::request) {
      // case_id: the header, else _meta, else the argument.
      std::string case_id(req[case_id_.header]);
      const mcp::JsonView args = params["arguments"];
      if (case_id.empty()) case_id = params["_meta"][case_id_.meta_key].str();
      if (case_id.empty()) case_id = args[case_id_.argument].str();
      recorder = std::make_unique<CallRecorder>(metrics_, calls_, "inbound", config_.name, "tools/call", target->second,
                                                case_id);
      recorder->set_caller(state.caller.identity);
      recorder->set_tool_listed(listed_tools_.count(target->second) > 0);
      json logged = json::object();
      for (const auto& name : config_.log_arguments)
        if (const mcp::JsonView value = args[name]; !value.absent()) logged[name] = value.value();
      if (!logged.empty()) recorder->set_logged_arguments(std::move(logged));
      recorder->start();
    }
    if (target && !policy->allows(state.caller.identity, target->first, target->second)) {
      metrics_.authz_denied_total.Add({{"server", config_.name}}).Increment();
      warnings_.warn(
          "deny:" + state.caller.identity, "authz_denied",
          {{"server", config_.name}, {"caller", state.caller.identity}, {"method", method}, {"name", target->second}});
      if (recorder) recorder->finish("rejected", "forbidden");
      if (kind == mcp::MessageKind::notification)
        dropped = true;
      else
        state.denied.push_back(rpc_error(m["id"].value(), ErrorCode::forbidden,
                                         "forbidden: this caller may not use '" + target->second + "'"));
      continue;
    }
    if (kind == mcp::MessageKind::request) {
      auto& entry = state.pending->entries[id_key(m["id"].value())];
      entry.caller = state.caller.identity;
      if (method == "tools/list") entry.list = true;
      entry.call = std::move(recorder);
    }
    forwarded.push_back(m);
  }

  if (duplicate_keys && !forwarded.empty()) {
    // Servers resolve a repeated key their own ways (the first value, the last, an error), so
    // what the gate authorized and logged is not surely what the server would run: a message the
    // gate denies (by the last value) is answered as denied, anything else is refused whole.
    for (auto& [id, entry] : state.pending->entries)
      if (entry.call) entry.call->finish("rejected", "duplicate_keys");
    co_await ex.respond(json_reply(
        400, mcp::make_error(nullptr, mcp::kInvalidRequest, "a key is repeated in an object of the message"), version));
    co_return;
  }
  // Streamable HTTP answers a POST in its response; the legacy transport answers on the GET
  // stream, which the gate does not write into: there a refusal is the POST's status, and a
  // batch with a denied element is refused whole rather than half-answered.
  const bool legacy = state.session.starts_with("legacy:");
  const bool refused = !state.denied.empty() || dropped;
  if (forwarded.empty() || (legacy && refused)) {  // the server never sees it
    for (auto& [id, entry] : state.pending->entries)
      if (entry.call) entry.call->finish("rejected", "batch_refused");
    if (state.denied.empty()) {  // only notifications, which get no answer of their own
      auto error = rpc_error(nullptr, ErrorCode::forbidden, "forbidden: this caller may not send that notification");
      co_await ex.respond(json_reply(http_status(ErrorCode::forbidden), error, version));
      co_return;
    }
    json body = batch ? json(state.denied) : state.denied.front();
    co_await ex.respond(json_reply(legacy ? 403 : 200, body, version));
    co_return;
  }
  std::string body;
  if (!refused) {
    body = std::move(*document).take_text();
  } else {  // what passes of a batch, written again
    json passed = json::array();
    for (const mcp::JsonView m : forwarded) passed.push_back(m.value());
    body = dump_json(batch ? passed : passed[0]);
  }
  co_await forward(req, ex, state, std::move(body));
}

std::optional<mcp::Refusal> Gate::check_modern(const http::Request& req, mcp::JsonView message) {
  // A 2026-07-28 request: the version header or the _meta field says so.
  const auto lookup = mcp::lookup_in(req);
  const auto header = lookup(mcp::kProtocolVersionHeader).value_or(std::string_view());
  const bool modern = (!header.empty() && header >= mcp::kStatelessRevision) ||
                      message["params"]["_meta"].contains(mcp::kMetaProtocolVersion);
  if (!modern) return std::nullopt;
  if (message.is_array()) return mcp::Refusal{400, mcp::kInvalidRequest, "batches are not part of revision 2026-07-28"};
  if (mcp::classify(message) != mcp::MessageKind::request) return std::nullopt;
  // Which versions the server speaks is the server's call; the gate checks agreement only.
  const std::vector<std::string> any = {std::string(header)};
  return mcp::check_modern_request(message, lookup, any);
}

asio::awaitable<void> Gate::forward(http::Request& req, http::Exchange& ex, Exchange& state, std::string body) {
  const unsigned version = req.version();
  auto fail = [&](ErrorCode code, std::string message) -> asio::awaitable<void> {
    for (auto& [id, entry] : state.pending->entries)
      if (entry.call) entry.call->finish(outcome_label(code), code_name(code));
    state.pending->entries.clear();
    warnings_.warn("forward:" + config_.name, "forward_failed", {{"server", config_.name}, {"error", message}});
    json error = rpc_error(nullptr, code, message);
    co_await ex.respond(json_reply(http_status(code), error, version));
  };

  auto lease = co_await upstream_.acquire(Clock::now() + config_.connect_timeout);
  if (!lease) co_return co_await fail(ErrorCode::unavailable, "the local MCP server is not reachable");
  auto& conn = *lease.value();

  // The request as it came, written as bytes (http/wire.hpp): its fields but the hop-by-hop ones
  // and any claim of identity, which the gate makes itself; the body framed by its length.
  auto up = http::WireMessage::request(req.method_string(), req.target());
  for (const auto& field : req) {
    auto name = field.name_string();
    if (is_hop_by_hop(name) || listed_in_connection(req, name) || names_identity(name)) continue;
    if (!config_.keep_authorization && field.name() == bhttp::field::authorization) continue;
    if (field.name() == bhttp::field::content_length) continue;
    up.field(name, field.value());
  }
  up.field(kIdentityHeader, state.caller.identity);
  const std::string wire = std::move(up).finish_request(req.method(), body);

  const auto response_deadline = Clock::now() + config_.response_timeout;
  if (auto ec = co_await conn.write(std::string_view(wire), response_deadline))
    co_return co_await fail(ErrorCode::unavailable, "the local MCP server closed the connection");
  // A client that leaves ends the upstream exchange too, at once: the server sees the close
  // (in 2026-07-28 that is the cancellation; an HTTP+SSE stream's close ends its session)
  // instead of working on for nobody until its answer, its next event or a timeout.
  auto gone = std::make_shared<bool>(false);
  ex.watch_client([weak = std::weak_ptr<bool>(gone), c = &conn] {
    if (auto g = weak.lock()) {
      *g = true;
      c->close();
    }
  });
  state.client_gone = gone;
  http::ResponseParser parser;
  parser.header_limit(64 << 10);
  const bool head_request = req.method() == bhttp::verb::head;
  parser.skip(head_request);  // the answer to HEAD has no body, whatever its headers say
  if (auto ec = co_await conn.read_header(parser, response_deadline)) {
    if (*gone) co_return abandon(state);
    if (ec == boost::beast::error::timeout)
      co_return co_await fail(ErrorCode::timeout, "the local MCP server did not answer");
    co_return co_await fail(ErrorCode::unavailable, "the local MCP server closed the connection");
  }
  const auto& head = parser.get();
  const unsigned status = head.result_int();
  if (status == 202 && !state.pending->entries.empty()) park_pending(state);

  const bool sse = head[bhttp::field::content_type].starts_with("text/event-stream");
  const bool json_body = head[bhttp::field::content_type].starts_with("application/json");
  // A JSON answer is read whole (bounded) even when chunked: the gate must see which calls it
  // answers. Event streams and other chunked bodies pass through as they come.
  if (!head_request && (sse || (!json_body && !parser.content_length() && parser.chunked()))) {
    http::StreamHead out{head.result(), version};
    for (const auto& field : head)
      if (!is_hop_by_hop(field.name_string()) && field.name() != bhttp::field::content_length &&
          !listed_in_connection(head, field.name_string()))
        out.insert(field.name_string(), field.value());
    if (!co_await ex.begin_stream(std::move(out))) co_return abandon(state);
    if (sse) {
      co_await stream_events(ex, conn, parser, state);
    } else {
      parser.body_limit(boost::none);
      while (!parser.is_done()) {
        if (auto ec = co_await conn.read_some(parser, Clock::now() + config_.stream_idle_timeout)) break;
        auto& chunk = parser.get().body();
        if (!co_await ex.write_chunk(chunk)) co_return;
        chunk.clear();
      }
      conn.reusable = parser.is_done() && parser.keep_alive();
      // Not an MCP answer: the calls it was to carry got none.
      for (auto& [id, entry] : state.pending->entries)
        if (entry.call) entry.call->finish("rpc_error", "no_response");
      state.pending->entries.clear();
      co_await ex.end_stream();
    }
    co_return;
  }

  parser.body_limit(kMaxBufferedResponse);
  boost::system::error_code ec;
  if (!parser.is_done()) ec = co_await conn.read_rest(parser, response_deadline);
  if (ec) {
    if (*gone) co_return abandon(state);
    if (ec == bhttp::error::body_limit) co_return co_await fail(ErrorCode::upstream_protocol, "response too large");
    co_return co_await fail(ErrorCode::unavailable, "the local MCP server closed the connection");
  }
  conn.reusable = parser.keep_alive();
  http::Response res{head.result(), version};
  for (const auto& field : head)
    if (!is_hop_by_hop(field.name_string()) && field.name() != bhttp::field::content_length &&
        !listed_in_connection(head, field.name_string()))
      res.insert(field.name_string(), field.value());
  res.body() = std::move(parser.get().body());
  if (json_body && (!state.pending->entries.empty() || !state.denied.empty())) {
    // Read in place (a copy: the body goes on as it came unless something in it changes).
    if (auto document = mcp::JsonDocument::parse(res.body())) {
      const auto lists = settle(document->root(), state);
      if (!lists.empty() || !state.denied.empty()) {
        json message = document->root().value();
        bool changed = filter_lists(message, lists);
        if (!state.denied.empty()) {  // a batch: its denied elements answered alongside
          if (!message.is_array()) message = json::array({message});
          for (auto& d : state.denied) message.push_back(std::move(d));
          changed = true;
        }
        if (changed) res.body() = message.dump();
      }
    }
  }
  // Calls whose answer did not come (a 4xx/5xx without a JSON-RPC body) end here.
  for (auto& [id, entry] : state.pending->entries)
    if (entry.call) entry.call->finish(status >= 500 ? "unavailable" : "rpc_error", "http_" + std::to_string(status));
  co_await ex.respond(std::move(res));
  state.answered.clear();
}

asio::awaitable<void> Gate::stream_events(http::Exchange& ex, http::ClientConnection& conn,
                                          http::ResponseParser& parser, Exchange& state) {
  parser.body_limit(boost::none);
  mcp::SseFramer framer(kMaxEventBytes);
  std::vector<std::string> events;
  // Denied elements of a batch are answered first, as events of this stream.
  for (auto& d : state.denied) {
    std::string event = mcp::message_event(d);
    if (!co_await ex.write_chunk(event)) co_return;
  }
  bool client_gone = false;
  bool too_large = false;
  for (;;) {
    auto& chunk = parser.get().body();
    if (!chunk.empty()) {
      events.clear();
      const bool ok = framer.feed(chunk, events);
      chunk.clear();
      for (const auto& raw : events) {
        auto out = process_event(raw, state);
        const bool written = co_await ex.write_chunk(out);
        state.answered.clear();
        if (!written) {
          client_gone = true;
          break;
        }
      }
      if (client_gone) break;
      if (!ok) {
        log::warn("event_too_large", {{"server", config_.name}});
        too_large = true;
        break;
      }
    }
    if (parser.is_done()) break;
    if (auto ec = co_await conn.read_some(parser, Clock::now() + config_.stream_idle_timeout)) break;
  }
  if (client_gone || (state.client_gone && *state.client_gone)) co_return abandon(state);
  if (too_large) {
    // A cut event would reach the caller as a broken or different message: the rest of the
    // answer is dropped with the connection, and the calls still owed get an error instead
    // (counted as upstream_protocol_error), or the stream says why it ends.
    conn.reusable = false;
    const auto code = ErrorCode::upstream_protocol;
    const std::string message = "an event of the local MCP server's answer is too large";
    std::string errors;
    for (auto& [id, entry] : state.pending->entries) {
      if (entry.call) entry.call->finish(outcome_label(code), code_name(code));
      errors += mcp::message_event(rpc_error(json::parse(id), code, message));
    }
    if (errors.empty()) errors = mcp::message_event(rpc_error(nullptr, code, message));
    state.pending->entries.clear();
    co_await ex.write_chunk(errors);
    co_await ex.end_stream();
    co_return;
  }
  conn.reusable = parser.is_done() && parser.keep_alive() && framer.pending() == 0;
  if (auto rest = framer.take_rest(); !rest.empty()) co_await ex.write_chunk(rest);
  // Answers still owed may come on another stream (a resumed one): keep them there.
  if (!state.pending->entries.empty()) park_pending(state);
  co_await ex.end_stream();
}

std::string Gate::process_event(const std::string& raw, Exchange& state) {
  std::string data = mcp::event_data(raw);
  if (data.empty()) return raw;
  // The legacy transport names its session in the first event of the GET /sse stream.
  if (raw.find("event: endpoint") != std::string::npos || raw.find("event:endpoint") != std::string::npos) {
    auto at = data.find("sessionId=");
    if (at != std::string::npos) state.session = "legacy:" + data.substr(at + 10, data.find('&', at) - at - 10);
    return raw;
  }
  if (state.pending->entries.empty() && (state.session.empty() || !parked_.count(state.session))) return raw;
  auto document = mcp::JsonDocument::parse(std::move(data));
  if (!document) return raw;
  const auto lists = settle(document->root(), state);
  if (lists.empty()) return raw;
  json message = document->root().value();
  if (!filter_lists(message, lists)) return raw;
  return mcp::rewrite_event(raw, message.dump());
}

std::map<std::string, std::string> Gate::settle(mcp::JsonView message, Exchange& state) {
  std::map<std::string, std::string> lists;
  auto one = [&](mcp::JsonView m) {
    const auto kind = mcp::classify(m);
    if (kind != mcp::MessageKind::result && kind != mcp::MessageKind::error) return;
    std::string key = id_key(m["id"].value());
    Pending::Entry entry;
    if (auto it = state.pending->entries.find(key); it != state.pending->entries.end()) {
      entry = std::move(it->second);
      state.pending->entries.erase(it);
    } else if (auto parked = parked_.find(state.session); !state.session.empty() && parked != parked_.end()) {
      auto pit = parked->second->entries.find(key);
      if (pit == parked->second->entries.end()) return;
      entry = std::move(pit->second);
      parked->second->entries.erase(pit);
      if (parked->second->entries.empty()) parked_.erase(parked);
    } else {
      return;
    }
    if (entry.call) {
      const char* outcome = "ok";
      const char* error = "";
      if (kind == mcp::MessageKind::error)
        outcome = "rpc_error", error = "upstream_error";
      else if (const mcp::JsonView is_error = m["result"]["isError"];
               is_error.type() == json::value_t::boolean && is_error.text() == "true")
        outcome = "tool_error";
      entry.call->end(outcome, error);
      state.answered.push_back(std::move(entry.call));
    } else if (entry.list && kind == mcp::MessageKind::result) {
      lists.emplace(std::move(key), std::move(entry.caller));
    }
  };
  if (message.is_array())
    message.for_each_element(one);
  else
    one(message);
  return lists;
}

bool Gate::filter_lists(json& message, const std::map<std::string, std::string>& callers) {
  if (message.is_array()) {
    bool changed = false;
    for (auto& m : message) changed = filter_lists(m, callers) || changed;
    return changed;
  }
  if (!message.is_object() || !message.contains("id") || !message.contains("result")) return false;
  auto caller = callers.find(id_key(message["id"]));
  if (caller == callers.end()) return false;
  auto& result = message["result"];
  if (!result.is_object() || !result.contains("tools") || !result["tools"].is_array()) return false;
  json kept = json::array();
  const auto policy = policy_;
  for (auto& tool : result["tools"]) {
    if (!tool.is_object() || !tool.contains("name") || !tool["name"].is_string()) continue;
    const std::string name = tool["name"];
    if (listed_tools_.size() < 1000) listed_tools_.insert(name);
    if (policy->allows(caller->second, Target::tool, name)) kept.push_back(std::move(tool));
  }
  const bool changed = kept.size() != result["tools"].size();
  result["tools"] = std::move(kept);
  return changed;
}

void Gate::abandon(Exchange& state) {
  // Nobody is listening: the calls of this exchange are cancelled from the caller's side.
  for (auto& [id, entry] : state.pending->entries)
    if (entry.call) entry.call->finish("cancelled", "client_gone");
  state.pending->entries.clear();
}

void Gate::park_pending(Exchange& state) {
  if (state.session.empty()) {
    for (auto& [id, entry] : state.pending->entries)
      if (entry.call) entry.call->finish("rpc_error", "no_response");
    state.pending->entries.clear();
    return;
  }
  auto& parked = parked_[state.session];
  if (!parked) parked = std::make_shared<Pending>();
  // Bounded: the oldest owed answers are given up first.
  for (auto& [id, entry] : state.pending->entries) {
    if (parked->entries.size() >= kMaxParkedPerSession) {
      auto oldest = parked->entries.begin();
      if (oldest->second.call) oldest->second.call->finish("rpc_error", "no_response");
      parked->entries.erase(oldest);
    }
    parked->entries[id] = std::move(entry);
  }
  state.pending->entries.clear();
  if (parked_.size() > 4096) parked_.erase(parked_.begin());  // sessions that never came back
}

}  // namespace mcp_sidecar::inbound

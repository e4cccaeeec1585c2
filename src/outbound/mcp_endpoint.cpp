#include "outbound/mcp_endpoint.hpp"

#include "core/json_write.hpp"
#include "mcp/case_id.hpp"
#include "mcp/headers.hpp"
#include "mcp/json_document.hpp"
#include "mcp/json_parse.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/modern.hpp"
#include "mcp/protocol.hpp"
#include "mcp/sse_framer.hpp"
#include "telemetry/call_recorder.hpp"
#include "telemetry/metrics.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

namespace mcp_sidecar::outbound {

namespace bhttp = boost::beast::http;

namespace {

const std::vector<std::string> kServedRevisions = {std::string(mcp::kStatelessRevision)};
constexpr int kSessionNotFound = -32001;                    // what the SDKs answer for an unknown session
constexpr int kMaxInputRounds = 8;                          // input_required rounds bridged for one request
constexpr std::string_view kParkedPrefix = "mcp-sidecar:";  // requestState of a parked call

// Requests passed to the upstream as they are (all of them read-only).
bool forwarded(std::string_view method) {
  return method == "resources/list" || method == "resources/templates/list" || method == "resources/read" ||
         method == "prompts/list" || method == "prompts/get" || method == "completion/complete";
}

http::Response rpc_error(unsigned status, const json& id, int code, std::string_view message, unsigned version,
                         json data = nullptr) {
  return http::make_json_response(status, mcp::make_error(id, code, message, std::move(data)), version);
}

// Answers; whether the client was still there to read it changes nothing here.
asio::awaitable<void> send(http::Exchange& ex, http::Response res) { co_await ex.respond(std::move(res)); }

// The refusal of a POST whose body is not said to be JSON.
std::optional<http::Response> refuse_content_type(const http::Request& req) {
  if (auto ct = req[bhttp::field::content_type]; !ct.starts_with("application/json"))
    return rpc_error(415, nullptr, mcp::kInvalidRequest, "Content-Type must be application/json", req.version());
  return std::nullopt;
}

// The one JSON-RPC message a POST carries into `message`, or the response refusing the body.
// `batches`: the refusal of a batch, or empty where the revision has them (2025-03-26).
std::optional<http::Response> take_message(const http::Request& req, json& message, std::string_view batches) {
  const unsigned version = req.version();
  if (auto refused = refuse_content_type(req)) return refused;
  auto parsed = mcp::parse_json(req.body());
  if (!parsed) return rpc_error(400, nullptr, mcp::kParseError, "Parse error", version);
  if (parsed->is_array() && (!batches.empty() || parsed->empty()))
    return rpc_error(400, nullptr, mcp::kInvalidRequest, batches.empty() ? "an empty batch" : batches, version);
  message = std::move(*parsed);
  return std::nullopt;
}

// take_message for a POST without a session, whose one message is read in place: the body is
// taken into `message`, and `repeated_keys` tells whether an object in it repeats a key.
std::optional<http::Response> take_document(http::Request& req, std::optional<mcp::JsonDocument>& message,
                                            bool& repeated_keys) {
  if (auto refused = refuse_content_type(req)) return refused;
  message = mcp::JsonDocument::parse(std::move(req.body()), &repeated_keys);
  if (!message) return rpc_error(400, nullptr, mcp::kParseError, "Parse error", req.version());
  if (message->root().is_array())
    return rpc_error(400, nullptr, mcp::kInvalidRequest, "batches are not part of revision 2026-07-28", req.version());
  return std::nullopt;
}

// The HTTP+SSE paths: off unless configured, one verb each.
std::optional<http::Response> legacy_refusal(bool enabled, const http::Request& req, bhttp::verb verb) {
  const unsigned version = req.version();
  if (!enabled)
    return rpc_error(404, nullptr, mcp::kInvalidRequest, "the HTTP+SSE endpoint is off (outbound.legacy_sse_endpoint)",
                     version);
  if (req.method() == verb) return std::nullopt;
  auto res = rpc_error(405, nullptr, mcp::kInvalidRequest, "Method not allowed", version);
  res.set(bhttp::field::allow, bhttp::to_string(verb));
  return res;
}

constexpr std::string_view kOnePerPost = "batches are not supported by this endpoint: send one message per POST";

const json& member(const json& object, std::string_view key) {
  static const json none;
  if (!object.is_object()) return none;
  auto it = object.find(key);
  return it == object.end() ? none : *it;
}

// Params as the upstream gets them: the client's own protocol envelope and progressToken stay
// behind (the sidecar's upstream session sends its own); the rest of _meta travels.
json upstream_params(const json& params) {
  json p = params.is_object() ? params : json::object();
  if (auto meta = p.find("_meta"); meta != p.end()) {
    if (meta->is_object()) {
      for (auto it = meta->begin(); it != meta->end();) {
        const std::string& key = it.key();
        if (key == "progressToken" || key.starts_with(mcp::kMetaPrefix))
          it = meta->erase(it);
        else
          ++it;
      }
    }
    if (!meta->is_object() || meta->empty()) p.erase("_meta");
  }
  return p;
}

bool input_required(const json& result) { return mcp::is_text(member(result, "resultType"), "input_required"); }

// A tools/call's arguments as they go on to the upstream (an absent member: an empty object).
// Those of a request read in place (a 2026-07-28 client's) go as the text the client wrote, not
// built as values and written again: what the sidecar reads of them (the case id argument, a
// tool's x-mcp-header parameters) it looks up where they lie, or makes values of where the call
// needs them (Upstream::call_tool). Values when an object in the request repeats a key
// (`repeated_keys`): such text means one thing to the sidecar and maybe another to the upstream.
json passed_on(mcp::JsonView given, bool repeated_keys) {
  if (!given.is_object()) return json::object();
  return repeated_keys ? given.value() : json_text_value(given.text());
}
json passed_on(mcp::ValueView given, bool) { return given.is_object() ? given.value() : json::object(); }

}  // namespace

struct McpEndpoint::Caller {
  const http::Request& req;
  unsigned version;
  std::shared_ptr<ClientSession> session;  // null: a 2026-07-28 client
  std::shared_ptr<Relay> relay;
  json capabilities = json::object();  // what the client can answer
  std::string log_level;               // 2026-07-28: the request's _meta logLevel (empty: no logs)
  Cancellation cancel;
  std::vector<std::int64_t> asked;  // server-to-client requests made on this request's behalf
  std::vector<std::string> ids;     // the session client's request ids this caller answers
  bool repeated_keys = false;       // an object in the request read in place repeats a key

  // While a session client's request is answered it can be cancelled by its id and its session
  // is busy (never forgotten meanwhile); when the caller ends, both end, and the questions asked
  // on its behalf and never answered are forgotten.
  void attend(const json& id) {
    if (ids.empty()) ++session->busy;
    ids.push_back(id.dump());
    session->inflight[ids.back()] = &cancel;
  }
  ~Caller() {
    if (!session) return;
    for (auto id : asked) session->asked.erase(id);
    if (ids.empty()) return;
    --session->busy;
    session->last_used = Clock::now();
    for (const auto& key : ids)
      if (auto it = session->inflight.find(key); it != session->inflight.end() && it->second == &cancel)
        session->inflight.erase(it);
  }

  bool modern() const { return !session; }
  bool wants_log(const json& level) const {
    if (session) return session->wants_log(level);
    auto severity = log_severity(level);
    return !log_level.empty() && severity && *severity >= log_severity(log_level).value_or(0);
  }
  // The level the server is asked to log at, if any.
  const std::string& level_for_upstream() const { return session ? session->log_level : log_level; }
};

McpEndpoint::McpEndpoint(const config::OutboundConfig& config, Metrics& metrics, CallLog& calls,
                         std::function<std::uint64_t()> random64, std::string version)
    : config_(config),
      metrics_(metrics),
      calls_(calls),
      random64_(random64),
      version_(std::move(version)),
      sessions_(config.max_client_sessions, config.client_session_idle_timeout, std::move(random64), metrics) {}

json McpEndpoint::offered_capabilities(const SessionInfo& info, bool session_client) {
  // What the sidecar passes on: no list_changed or subscriptions (it pushes nothing unasked).
  const json& up = info.capabilities;
  json caps = json::object();
  if (up.contains("tools")) caps["tools"] = {{"listChanged", false}};
  if (up.contains("resources")) {
    caps["resources"] = json::object();
    // Subscriptions are per client: a session client gets its own upstream session for them.
    if (session_client && info.era != Era::stateless && member(up["resources"], "subscribe") == true)
      caps["resources"]["subscribe"] = true;
  }
  if (up.contains("prompts")) caps["prompts"] = json::object();
  if (up.contains("completions")) caps["completions"] = json::object();
  if (up.contains("logging")) caps["logging"] = json::object();
  return caps;
}

Answer McpEndpoint::failure(const Caller& caller, const json& id, const Error& e) const {
  Answer a;
  if (e.detail.is_object() && e.detail.contains("code")) {
    // A JSON-RPC error from the upstream is the client's answer as it was. For a 2026-07-28
    // client, -32020/-32021/-32022 are 400s and an unknown method a 404, as that revision says.
    const int code = mcp::error_code_of(e.detail);
    a.status = !caller.modern()                  ? 200
               : mcp::is_modern_error(400, code) ? 400
               : code == mcp::kMethodNotFound    ? 404
                                                 : 200;
    a.message = {{"jsonrpc", "2.0"}, {"id", id}, {"error", e.detail}};
  } else {
    // The sidecar's own failures: a 2026-07-28 client sees their HTTP status (503 + Retry-After,
    // 504, ...); a session client a JSON-RPC error on its session, with the same data.
    a.status = caller.modern() ? static_cast<unsigned>(http_status(e.code)) : 200;
    json data = {{"code", code_name(e.code)}};
    if (int seconds = retry_after(e)) data["retry_after_seconds"] = seconds;
    a.message = mcp::make_error(id, jsonrpc_code(e.code), e.message, std::move(data));
  }
  if (int seconds = retry_after(e)) a.headers.emplace_back("Retry-After", std::to_string(seconds));
  return a;
}

// Not a coroutine itself, as Api::handle: what it hands on must not point into its locals
// (the message goes on by value).
asio::awaitable<void> McpEndpoint::handle(http::Request& req, http::Exchange& ex, Upstream& upstream) {
  const unsigned version = req.version();
  if (auto sid = req[mcp::kSessionIdHeader]; !sid.empty())
    return handle_session(req, ex, upstream, std::string_view(sid.data(), sid.size()));
  if (req.method() != bhttp::verb::post) {
    // Without a session there is no stream to GET and nothing to DELETE.
    auto res = rpc_error(405, nullptr, mcp::kInvalidRequest, "Method not allowed: this endpoint takes POST", version);
    res.set(bhttp::field::allow, "POST");
    return send(ex, std::move(res));
  }
  std::optional<mcp::JsonDocument> document;
  bool repeated_keys = false;
  if (auto refused = take_document(req, document, repeated_keys)) return send(ex, std::move(*refused));
  const mcp::JsonView message = document->root();
  switch (mcp::classify(message)) {
    case mcp::MessageKind::notification: {
      auto accepted = http::make_response(202, std::string(), "application/json", version);
      return send(ex, std::move(accepted));
    }
    case mcp::MessageKind::request:
      break;
    default:
      return send(ex, rpc_error(400, nullptr, mcp::kInvalidRequest, "expected a JSON-RPC request", version));
  }
  // initialize opens a session, unless the request speaks 2026-07-28 (which has none: 404).
  const bool modern = req[mcp::kProtocolVersionHeader] == mcp::kStatelessRevision ||
                      !message["params"]["_meta"][mcp::kMetaProtocolVersion].absent_or_null();
  if (message["method"].is_text("initialize") && !modern) return initialize(req, ex, upstream, message.value());
  return handle_modern(req, ex, upstream, std::move(*document), repeated_keys);
}

// ---- 2026-07-28 clients ------------------------------------------------------------------

asio::awaitable<void> McpEndpoint::handle_modern(http::Request& req, http::Exchange& ex, Upstream& upstream,
                                                 mcp::JsonDocument document, bool repeated_keys) {
  const mcp::JsonView message = document.root();
  const unsigned version = req.version();
  const json id = message["id"].value();
  const mcp::HeaderLookup header = mcp::lookup_in(req);
  if (auto refusal = mcp::check_modern_request(message, header, kServedRevisions))
    co_return co_await send(
        ex, rpc_error(refusal->status, id, refusal->code, refusal->message, version, std::move(refusal->data)));

  auto relay = std::make_shared<Relay>(co_await asio::this_coro::executor);
  Caller caller{req, version, nullptr, std::move(relay)};
  caller.repeated_keys = repeated_keys;
  const mcp::JsonView meta = message["params"]["_meta"];
  if (const auto caps = meta[mcp::kMetaClientCapabilities]; caps.is_object()) caller.capabilities = caps.value();
  if (const auto level = meta[mcp::kMetaLogLevel]; !level.absent_or_null()) {
    if (!log_severity(level.value()))
      co_return co_await send(ex, rpc_error(400, id, mcp::kInvalidParams, "unknown logLevel", version));
    caller.log_level = level.str();
  }

  if (message["method"].is_text("server/discover")) {
    auto info = co_await upstream.server_info(upstream.call_deadline());
    if (!info) {
      Answer a = failure(caller, id, info.error());
      auto res = http::make_json_response(a.status, a.message, version);
      for (const auto& [name, value] : a.headers) res.set(name, value);
      co_return co_await send(ex, std::move(res));
    }
    json result = {
        {"supportedVersions", kServedRevisions},
        {"capabilities", offered_capabilities(info.value(), false)},
        {"resultType", "complete"},
        {"ttlMs", 0},
        {"cacheScope", "public"},
        {"_meta",
         {{std::string(mcp::kMetaServerInfo), {{"name", "mcp-sidecar/" + upstream.name()}, {"version", version_}}}}}};
    if (!info.value().instructions.empty()) result["instructions"] = info.value().instructions;
    co_return co_await send(ex, http::make_json_response(200, mcp::make_result(id, std::move(result)), version));
  }
  co_await answer(caller, ex, upstream, message);
}

// ---- session-revision clients -------------------------------------------------------------

asio::awaitable<Result<json>> McpEndpoint::initialize_result(Upstream& upstream, const json& params, bool legacy) {
  const json& requested = member(params, "protocolVersion");
  if (!requested.is_string() || !member(params, "capabilities").is_object())
    co_return Error{
        ErrorCode::bad_request, "initialize needs protocolVersion and capabilities",
        mcp::make_error(nullptr, mcp::kInvalidParams, "initialize needs protocolVersion and capabilities")["error"]};
  // The client's revision when the sidecar speaks it on this transport, else the newest.
  const std::string& wanted = requested.get_ref<const std::string&>();
  const std::string revision = mcp::is_session_revision(wanted) || (legacy && wanted == mcp::kLegacySseRevision)
                                   ? wanted
                               : legacy ? std::string(mcp::kLegacySseRevision)
                                        : std::string(mcp::kSessionRevisions.front());
  auto info = co_await upstream.server_info(upstream.call_deadline());
  if (!info) co_return std::move(info).error();
  json result = {{"protocolVersion", revision},
                 {"capabilities", offered_capabilities(info.value(), true)},
                 {"serverInfo", {{"name", "mcp-sidecar/" + upstream.name()}, {"version", version_}}}};
  if (!info.value().instructions.empty()) result["instructions"] = info.value().instructions;
  co_return result;
}

asio::awaitable<void> McpEndpoint::initialize(http::Request& req, http::Exchange& ex, Upstream& upstream,
                                              json message) {
  const unsigned version = req.version();
  const json& id = message["id"];
  const json& params = member(message, "params");
  auto result = co_await initialize_result(upstream, params, false);
  if (!result) {
    Caller probe{req, version, std::make_shared<ClientSession>(), nullptr};
    Answer a = failure(probe, id, result.error());
    auto res = http::make_json_response(a.status, a.message, version);
    for (const auto& [name, value] : a.headers) res.set(name, value);
    co_return co_await send(ex, std::move(res));
  }
  const std::string revision = result.value()["protocolVersion"];
  auto created = sessions_.create(upstream.name(), revision, params["capabilities"]);
  if (!created) {
    const Error& e = created.error();
    auto res = rpc_error(503, id, jsonrpc_code(e.code), e.message, version, json{{"code", code_name(e.code)}});
    res.set(bhttp::field::retry_after, std::to_string(e.retry_after_seconds));
    co_return co_await send(ex, std::move(res));
  }
  auto res = http::make_json_response(200, mcp::make_result(id, std::move(result).value()), version);
  res.set(mcp::kSessionIdHeader, created.value()->id);
  co_await send(ex, std::move(res));
}

bool McpEndpoint::take_non_request(ClientSession& session, const json& message) {
  switch (mcp::classify(message)) {
    case mcp::MessageKind::result:
    case mcp::MessageKind::error:
      // The client's answer to a request the sidecar passed on: back to whoever asked.
      if (message["id"].is_number_integer()) {
        auto it = session.asked.find(message["id"].get<std::int64_t>());
        if (it != session.asked.end()) {
          auto deliver = std::move(it->second);
          session.asked.erase(it);
          deliver(message);
        }
      }
      return true;
    case mcp::MessageKind::notification:
      if (message["method"] == "notifications/cancelled") {
        const json& request_id = member(member(message, "params"), "requestId");
        if (auto it = session.inflight.find(request_id.dump()); it != session.inflight.end()) it->second->cancel();
      }
      return true;
    default:
      return false;
  }
}

asio::awaitable<void> McpEndpoint::handle_session(http::Request& req, http::Exchange& ex, Upstream& upstream,
                                                  std::string_view session_id) {
  const unsigned version = req.version();
  auto session = sessions_.find(session_id, upstream.name());
  if (!session)
    co_return co_await send(
        ex, rpc_error(404, nullptr, kSessionNotFound, "Session not found: initialize a new session", version));
  if (req.method() == bhttp::verb::delete_) {
    sessions_.erase(session_id, upstream.name());
    co_return co_await send(ex, http::make_response(200, std::string(), "application/json", version));
  }
  if (req.method() == bhttp::verb::get) {
    // The session's own stream: what the server sends unasked for this client (updates of the
    // resources it subscribed to).
    if (session->stream_wake)
      co_return co_await send(
          ex, rpc_error(409, nullptr, mcp::kInvalidRequest, "this session's event stream is already open", version));
    http::StreamHead head{bhttp::status::ok, version};
    head.set(bhttp::field::content_type, "text/event-stream");
    head.set(bhttp::field::cache_control, "no-cache");
    if (co_await ex.begin_stream(std::move(head))) co_await pump_stream(ex, *session);
    co_await ex.end_stream();
    co_return;
  }
  if (req.method() != bhttp::verb::post) {
    auto res = rpc_error(405, nullptr, mcp::kInvalidRequest, "Method not allowed", version);
    res.set(bhttp::field::allow, "GET, POST, DELETE");
    co_return co_await send(ex, std::move(res));
  }
  if (auto pv = req[mcp::kProtocolVersionHeader]; !pv.empty() && !mcp::is_session_revision(pv))
    co_return co_await send(ex,
                            rpc_error(400, nullptr, mcp::kInvalidRequest, "unsupported MCP-Protocol-Version", version));
  json message;
  // 2025-03-26 has batches; later revisions removed them.
  const bool batches = session->protocol_version == "2025-03-26";
  if (auto refused = take_message(req, message, batches ? std::string_view() : kOnePerPost))
    co_return co_await send(ex, std::move(*refused));
  if (message.is_array()) co_return co_await answer_batch(req, ex, upstream, session, std::move(message));
  if (take_non_request(*session, message))
    co_return co_await send(ex, http::make_response(202, std::string(), "application/json", version));
  if (mcp::classify(message) != mcp::MessageKind::request)
    co_return co_await send(ex, rpc_error(400, nullptr, mcp::kInvalidRequest, "not a JSON-RPC message", version));
  const json& id = message["id"];
  if (message["method"] == "initialize")
    co_return co_await send(ex, rpc_error(400, id, mcp::kInvalidRequest, "this session is initialized", version));

  auto relay = std::make_shared<Relay>(co_await asio::this_coro::executor);
  Caller caller{req, version, session, std::move(relay)};
  caller.capabilities = session->capabilities;
  caller.attend(id);
  co_await answer(caller, ex, upstream, message);
}

asio::awaitable<void> McpEndpoint::answer_batch(http::Request& req, http::Exchange& ex, Upstream& upstream,
                                                std::shared_ptr<ClientSession> session, json batch) {
  const unsigned version = req.version();
  json requests = json::array();
  json refused = json::array();
  for (auto& m : batch) {
    if (take_non_request(*session, m)) continue;
    if (mcp::classify(m) != mcp::MessageKind::request || m["method"] == "initialize")
      refused.push_back(mcp::make_error(m.is_object() && m.contains("id") ? m["id"] : json(), mcp::kInvalidRequest,
                                        "not a request this session can take"));
    else
      requests.push_back(std::move(m));
  }
  if (requests.empty() && refused.empty())
    co_return co_await send(ex, http::make_response(202, std::string(), "application/json", version));
  // One answer for the batch: its requests' responses in one array, one after the other.
  auto relay = std::make_shared<Relay>(co_await asio::this_coro::executor);
  Caller caller{req, version, session, std::move(relay)};
  caller.capabilities = session->capabilities;
  for (const auto& m : requests) caller.attend(m["id"]);
  auto work = [&]() -> asio::awaitable<Answer> {
    json responses = std::move(refused);
    for (const auto& m : requests) responses.push_back((co_await serve(caller, upstream, m)).message);
    co_return Answer{200, std::move(responses), {}};
  };
  ex.watch_client([&caller] { caller.cancel.cancel(); });
  co_await Relay::run(caller.relay, ex, version, work());
}

// ---- 2024-11-05 HTTP+SSE clients -----------------------------------------------------------

asio::awaitable<void> McpEndpoint::handle_legacy_stream(http::Request& req, http::Exchange& ex, Upstream& upstream) {
  const unsigned version = req.version();
  if (auto refused = legacy_refusal(config_.legacy_sse_endpoint, req, bhttp::verb::get))
    co_return co_await send(ex, std::move(*refused));
  auto created = sessions_.create(upstream.name(), std::string(mcp::kLegacySseRevision), json::object(), true);
  if (!created) {
    const Error& e = created.error();
    auto res = rpc_error(503, nullptr, jsonrpc_code(e.code), e.message, version, json{{"code", code_name(e.code)}});
    res.set(bhttp::field::retry_after, std::to_string(e.retry_after_seconds));
    co_return co_await send(ex, std::move(res));
  }
  auto session = std::move(created).value();
  const std::string id = session->id;

  http::StreamHead head{bhttp::status::ok, version};
  head.set(bhttp::field::content_type, "text/event-stream");
  head.set(bhttp::field::cache_control, "no-cache");
  bool here = co_await ex.begin_stream(std::move(head));
  if (here)
    here = co_await ex.write_chunk("event: endpoint\ndata: /mcp/" + upstream.name() + "/messages?sessionId=" + id +
                                   "\n\n");
  // The session lives as long as its stream: what the client asks is answered here, and when
  // the client leaves, its requests in flight are cancelled.
  if (here) co_await pump_stream(ex, *session);
  sessions_.erase(id, upstream.name());
  co_await ex.end_stream();
}

asio::awaitable<void> McpEndpoint::pump_stream(http::Exchange& ex, ClientSession& session) {
  bool here = true;
  Notifier wake(co_await asio::this_coro::executor);
  ex.watch_client([&] {
    here = false;
    wake.notify_all();
  });
  session.stream_wake = &wake;
  while (here && !session.closed) {
    while (here && !session.outbox.empty()) {
      auto message = std::move(session.outbox.front());
      session.outbox.pop_front();
      here = co_await ex.write_chunk(mcp::message_event(message));
    }
    if (!here || session.closed) break;
    // A quiet stream is probed now and then, so a client gone without a word is noticed.
    if (!co_await wake.wait_until(Clock::now() + std::chrono::seconds(15)) && session.outbox.empty())
      here = co_await ex.write_chunk(": keepalive\n\n");
  }
  session.stream_wake = nullptr;
}

asio::awaitable<void> McpEndpoint::handle_legacy_post(http::Request& req, http::Exchange& ex, Upstream& upstream,
                                                      std::string session_id) {
  const unsigned version = req.version();
  if (auto refused = legacy_refusal(config_.legacy_sse_endpoint, req, bhttp::verb::post))
    co_return co_await send(ex, std::move(*refused));
  auto session = sessions_.find(session_id, upstream.name());
  if (!session || !session->legacy)
    co_return co_await send(ex, rpc_error(404, nullptr, kSessionNotFound, "Session not found", version));
  json message;
  if (auto refused = take_message(req, message, kOnePerPost)) co_return co_await send(ex, std::move(*refused));
  auto accepted = [&] { return http::make_response(202, std::string(), "application/json", version); };
  if (take_non_request(*session, message)) co_return co_await send(ex, accepted());
  if (mcp::classify(message) != mcp::MessageKind::request)
    co_return co_await send(ex, rpc_error(400, nullptr, mcp::kInvalidRequest, "not a JSON-RPC message", version));
  // Accepted now, answered on the stream when done.
  auto executor = co_await asio::this_coro::executor;
  asio::co_spawn(
      executor,
      [this, &upstream, session, req, message = std::move(message)]() mutable {
        return run_legacy_request(upstream, std::move(session), std::move(req), std::move(message));
      },
      asio::detached);
  co_await send(ex, accepted());
}

asio::awaitable<void> McpEndpoint::run_legacy_request(Upstream& upstream, std::shared_ptr<ClientSession> session,
                                                      http::Request req, json message) {
  const json& id = message["id"];
  if (message["method"] == "initialize") {
    if (session->initialized) {
      session->send(mcp::make_error(id, mcp::kInvalidRequest, "this session is initialized"));
      co_return;
    }
    auto result = co_await initialize_result(upstream, member(message, "params"), true);
    if (!result) {
      Caller probe{req, req.version(), session, nullptr};
      session->send(failure(probe, id, result.error()).message);
      co_return;
    }
    session->initialized = true;
    session->protocol_version = result.value()["protocolVersion"];
    session->capabilities = member(member(message, "params"), "capabilities");
    session->send(mcp::make_result(id, std::move(result).value()));
    co_return;
  }
  auto executor = co_await asio::this_coro::executor;
  auto relay = std::make_shared<Relay>(executor, [session](json m) { session->send(std::move(m)); });
  Caller caller{req, req.version(), session, std::move(relay)};
  caller.capabilities = session->capabilities;
  caller.attend(id);
  Answer a = co_await serve(caller, upstream, message);
  if (!a.message.is_null()) session->send(std::move(a.message));
}

// ---- what both kinds of clients ask -------------------------------------------------------

template <class Message>
asio::awaitable<void> McpEndpoint::answer(Caller& caller, http::Exchange& ex, Upstream& upstream,
                                          const Message& message) {
  // A client that leaves cancels what it asked for.
  ex.watch_client([&caller] { caller.cancel.cancel(); });
  return Relay::run(caller.relay, ex, caller.version, serve(caller, upstream, message));
}

asio::awaitable<Answer> McpEndpoint::serve(Caller& caller, Upstream& upstream, const json& message) {
  const std::string method = message["method"];
  const json& id = message["id"];
  if (method == "tools/list") co_return co_await list_tools(caller, upstream, id);
  if (method == "tools/call") co_return co_await call_tool(caller, upstream, mcp::ValueView(message));
  if (forwarded(method)) co_return co_await forward(caller, upstream, message);
  if (caller.session && method == "ping") co_return Answer{200, mcp::make_result(id, json::object()), {}};
  if (caller.session && (method == "resources/subscribe" || method == "resources/unsubscribe"))
    co_return co_await subscription(caller, upstream, message);
  if (caller.session && method == "logging/setLevel") {
    const json& level = member(member(message, "params"), "level");
    if (!log_severity(level))
      co_return Answer{200, mcp::make_error(id, mcp::kInvalidParams, "unknown logging level"), {}};
    // Kept per client session and applied to what is relayed to it: the upstream session is
    // shared, so its own level is never changed for one client.
    caller.session->log_level = level;
    co_return Answer{200, mcp::make_result(id, json::object()), {}};
  }
  co_return Answer{caller.modern() ? 404u : 200u, mcp::make_error(id, mcp::kMethodNotFound, "Method not found"), {}};
}

asio::awaitable<Answer> McpEndpoint::serve(Caller& caller, Upstream& upstream, mcp::JsonView message) {
  if (message["method"].is_text("tools/call")) co_return co_await call_tool(caller, upstream, message);
  const json built = message.value();  // what other methods are served from
  co_return co_await serve(caller, upstream, built);
}

asio::awaitable<Answer> McpEndpoint::list_tools(Caller& caller, Upstream& upstream, const json& id) {
  auto catalog = co_await upstream.tools(upstream.call_deadline());
  if (!catalog) co_return failure(caller, id, catalog.error());
  const auto& tools = *catalog.value();
  json result = {{"tools", tools.listed()}};
  if (caller.modern()) {
    // Cacheable for what the upstream allowed (else the sidecar's own cache lifetime), and
    // private when the upstream scoped it so.
    const long long ttl = tools.ttl_ms() ? *tools.ttl_ms() : config_.tools_cache_ttl.count();
    result["resultType"] = "complete";
    result["ttlMs"] = ttl;
    result["cacheScope"] = tools.private_scope() ? "private" : "public";
  }
  co_return Answer{200, mcp::make_result(id, std::move(result)), {}};
}

void McpEndpoint::relay_into(Caller& caller, Upstream::CallExtras& extras, json progress_token,
                             const std::string& upstream_name) {
  extras.want_progress = !progress_token.is_null();
  extras.client_capabilities = caller.capabilities;
  extras.cancel = &caller.cancel;
  if (const auto& level = caller.level_for_upstream(); !level.empty())
    extras.meta[std::string(mcp::kMetaLogLevel)] = level;
  extras.on_message = [&caller, token = std::move(progress_token)](const json& msg) {
    const json& method = msg["method"];
    if (method == "notifications/progress") {
      if (token.is_null()) return;
      json progress = msg;
      progress["params"]["progressToken"] = token;  // the client's own token, not the sidecar's
      caller.relay->push(std::move(progress));
    } else if (method == "notifications/message") {
      if (caller.wants_log(member(member(msg, "params"), "level"))) caller.relay->push(msg);
    }
    // Other notifications on a request's stream belong to no request of this client.
  };
  extras.on_request = [this, &caller, server = upstream_name](const json& msg, Reply reply) {
    const std::string method = msg["method"];
    const bool can = caller.session && caller.session->can_answer(method);
    metrics_.counter(metrics_.server_requests_total, {{"server", server}, {"outcome", can ? "relayed" : "refused"}})
        .Increment();
    if (!can) {
      // A 2026-07-28 client's streams carry no server requests; a session client that did not
      // declare the capability cannot answer it.
      reply(mcp::make_error(msg["id"], mcp::kMethodNotFound, "the client cannot answer " + method));
      return;
    }
    // Asked under the sidecar's own id on this client's session; the answer goes back under
    // the server's id on the upstream session that asked.
    auto& session = *caller.session;
    const auto id = session.next_request_id++;
    caller.asked.push_back(id);
    session.asked[id] = [reply = std::move(reply), upstream_id = msg["id"]](const json& answer) {
      json back = answer;
      back["id"] = upstream_id;
      reply(std::move(back));
    };
    json question = msg;
    question["id"] = id;
    caller.relay->push(std::move(question));
  };
}

asio::awaitable<Result<json>> McpEndpoint::ask(Caller& caller, const std::string& method, const json& params,
                                               TimePoint deadline) {
  auto& session = *caller.session;
  const auto id = session.next_request_id++;
  std::optional<json> answer;
  auto executor = co_await asio::this_coro::executor;
  Notifier arrived(executor);
  session.asked[id] = [&](const json& a) {
    answer = a;
    arrived.notify_all();
  };
  caller.asked.push_back(id);
  caller.relay->push(params.is_null() ? mcp::make_request(id, method, json::object())
                                      : mcp::make_request(id, method, params));
  caller.cancel.arm([&] { arrived.notify_all(); });
  while (!answer && !caller.cancel.requested() && Clock::now() < deadline) co_await arrived.wait_until(deadline);
  caller.cancel.disarm();
  session.asked.erase(id);
  if (answer) co_return std::move(*answer);
  if (caller.cancel.requested()) co_return make_error(ErrorCode::cancelled, "the client cancelled the request");
  co_return make_error(ErrorCode::timeout, "the client did not answer the server's request in time");
}

asio::awaitable<Answer> McpEndpoint::forward(Caller& caller, Upstream& upstream, const json& message) {
  const std::string method = message["method"];
  const json& id = message["id"];
  const auto deadline = upstream.call_deadline();
  json params = upstream_params(member(message, "params"));
  Upstream::CallExtras extras;
  relay_into(caller, extras, member(member(member(message, "params"), "_meta"), "progressToken"), upstream.name());
  std::string case_id;
  if (auto it = caller.req.find(config_.case_id.header); it != caller.req.end()) case_id = it->value();

  auto reply = co_await upstream.request(method, params, case_id, deadline, extras);
  for (int round = 0; reply && caller.session && input_required(member(reply.value(), "result")); ++round) {
    // A 2026-07-28 upstream asks its input of a session client as server requests.
    if (round == kMaxInputRounds) {
      reply = make_error(ErrorCode::upstream_protocol, "the upstream kept asking for input");
      break;
    }
    auto responses = co_await gather_input(caller, reply.value()["result"], deadline);
    if (!responses) {
      reply = std::move(responses).error();
      break;
    }
    json again = params;
    for (const auto& [key, value] : responses.value().items()) again[key] = value;
    reply = co_await upstream.request(method, std::move(again), case_id, deadline, extras);
  }
  if (!reply) co_return failure(caller, id, reply.error());
  json& msg = reply.value();
  if (auto err = msg.find("error"); err != msg.end())
    co_return failure(caller, id, Error{ErrorCode::upstream_rpc_error, "the upstream answered with an error", *err});
  json result = member(msg, "result");
  if (!result.is_object())
    co_return failure(caller, id, make_error(ErrorCode::upstream_protocol, "upstream sent a malformed result"));
  if (caller.modern()) {
    if (!result.contains("resultType")) result["resultType"] = "complete";
    // An upstream of an earlier revision says nothing of caching: nothing may be reused.
    if (method != "completion/complete" && method != "prompts/get" && !result.contains("ttlMs")) {
      result["ttlMs"] = 0;
      result["cacheScope"] = "private";
    }
  } else {
    for (const char* key : {"resultType", "ttlMs", "cacheScope"}) result.erase(key);
  }
  co_return Answer{200, mcp::make_result(id, std::move(result)), {}};
}

asio::awaitable<Answer> McpEndpoint::subscription(Caller& caller, Upstream& upstream, const json& message) {
  const std::string method = message["method"];
  const json& id = message["id"];
  auto& session = *caller.session;
  const auto deadline = upstream.call_deadline();
  auto info = co_await upstream.server_info(deadline);
  if (!info) co_return failure(caller, id, info.error());
  if (!offered_capabilities(info.value(), true)["resources"].contains("subscribe"))
    co_return Answer{200, mcp::make_error(id, mcp::kMethodNotFound, "Method not found"), {}};
  if (!session.dedicated || !session.dedicated->alive()) {
    if (method == "resources/unsubscribe") co_return Answer{200, mcp::make_result(id, json::object()), {}};
    // Subscriptions belong to this client alone: they live on an upstream session of its own,
    // whose resource updates go to this client's stream.
    auto opened = co_await upstream.open_dedicated(deadline);
    if (!opened) co_return failure(caller, id, opened.error());
    if (session.dedicated) ClientSessions::end_dedicated(session);
    session.dedicated = std::move(opened).value();
    session.executor = co_await asio::this_coro::executor;
    std::weak_ptr<ClientSession> weak = caller.session;
    session.dedicated->on_server_message([weak](const json& msg) {
      if (auto s = weak.lock(); s && msg["method"] == "notifications/resources/updated") s->send(msg);
    });
  }
  RpcOptions options{.deadline = deadline};
  options.cancel = &caller.cancel;
  auto dedicated = session.dedicated;  // kept while the request is on it
  auto reply = co_await dedicated->request(method, upstream_params(member(message, "params")), options);
  if (!reply) co_return failure(caller, id, reply.error());
  if (auto err = reply->find("error"); err != reply->end())
    co_return failure(caller, id, Error{ErrorCode::upstream_rpc_error, "the upstream answered with an error", *err});
  json result = member(reply.value(), "result");
  if (!result.is_object()) result = json::object();
  co_return Answer{200, mcp::make_result(id, std::move(result)), {}};
}

struct McpEndpoint::ParkedCall {
  explicit ParkedCall(asio::any_io_executor ex) : wake(ex) {}
  std::string tool;
  json capabilities;  // what the client can answer
  json progress_token;
  Cancellation cancel;
  struct Question {
    json request;  // {method, params}, as an input request
    Reply reply;
    json upstream_id;
    bool asked = false;  // sent to the client in an input_required result
  };
  std::map<std::string, Question> questions;  // by input request key
  std::uint64_t next_key = 1;
  std::optional<Result<json>> result;  // the call's end
  std::shared_ptr<Relay> relay;        // the client request attending the call now, if any
  std::string token;                   // its requestState while parked
  Notifier wake;
};

asio::awaitable<Result<json>> McpEndpoint::start_parked(Caller& caller, Upstream& upstream, const std::string& tool,
                                                        json arguments, const std::string& case_id, TimePoint deadline,
                                                        const json& progress_token) {
  auto executor = co_await asio::this_coro::executor;
  auto call = std::make_shared<ParkedCall>(executor);
  call->tool = tool;
  call->capabilities = caller.capabilities;
  call->progress_token = progress_token;
  Upstream::CallExtras extras;
  extras.client_capabilities = caller.capabilities;
  extras.want_progress = !call->progress_token.is_null();
  extras.cancel = &call->cancel;
  std::weak_ptr<ParkedCall> weak = call;
  extras.on_message = [weak](const json& msg) {
    auto c = weak.lock();
    if (!c || !c->relay || msg["method"] != "notifications/progress" || c->progress_token.is_null()) return;
    json progress = msg;
    progress["params"]["progressToken"] = c->progress_token;
    c->relay->push(std::move(progress));
  };
  extras.on_request = [this, weak, server = upstream.name()](const json& msg, Reply reply) {
    auto c = weak.lock();
    const std::string method = msg["method"];
    const char* capability = mcp::capability_for(method);
    const bool can = c && capability && c->capabilities.contains(capability);
    metrics_.counter(metrics_.server_requests_total, {{"server", server}, {"outcome", can ? "relayed" : "refused"}})
        .Increment();
    if (!can) return reply(mcp::make_error(msg["id"], mcp::kMethodNotFound, "the client cannot answer " + method));
    json request = {{"method", method}};
    if (msg.contains("params")) request["params"] = member(msg, "params");
    c->questions["mcp-sidecar-" + std::to_string(c->next_key++)] = {std::move(request), std::move(reply), msg["id"]};
    c->wake.notify_all();
  };
  // The call runs on its own: it may outlive this client request (parked), bounded by its deadline.
  asio::co_spawn(
      executor,
      [this, call, &upstream, tool, arguments = std::move(arguments), case_id, deadline,
       extras = std::move(extras)]() mutable -> asio::awaitable<void> {
        auto r = co_await upstream.call_tool(tool, std::move(arguments), case_id, deadline, extras);
        call->result = std::move(r);
        for (auto& [_, q] : call->questions) q.reply = nullptr;  // nobody waits for these answers now
        if (!call->token.empty()) parked_.erase(call->token);
        call->wake.notify_all();
      },
      asio::detached);
  co_return co_await attend(caller, std::move(call));
}

asio::awaitable<Result<json>> McpEndpoint::resume_parked(Caller& caller, const std::string& tool, const json& params) {
  const std::string& token = params["requestState"].get_ref<const std::string&>();
  auto it = parked_.find(token);
  if (it == parked_.end() || it->second->tool != tool)
    co_return Error{ErrorCode::bad_request, "unknown or expired requestState",
                    mcp::make_error(nullptr, mcp::kInvalidParams, "unknown or expired requestState")["error"]};
  auto call = it->second;
  parked_.erase(it);
  call->token.clear();
  // The answers go back to the upstream, under the ids it asked with.
  const json& responses = member(params, "inputResponses");
  for (auto q = call->questions.begin(); q != call->questions.end();) {
    const json& answer = member(responses, q->first);
    if (q->second.asked && answer.is_object() && q->second.reply) {
      q->second.reply(mcp::make_result(q->second.upstream_id, answer));
      q = call->questions.erase(q);
    } else {
      q->second.asked = false;  // asked again
      ++q;
    }
  }
  co_return co_await attend(caller, std::move(call));
}

asio::awaitable<Result<json>> McpEndpoint::attend(Caller& caller, std::shared_ptr<ParkedCall> call) {
  call->relay = caller.relay;
  caller.cancel.arm([call] { call->cancel.cancel(); });  // a client leaving now ends the call
  auto open_questions = [&] {
    for (auto& [_, q] : call->questions)
      if (!q.asked) return true;
    return false;
  };
  while (!call->result && !open_questions() && !call->cancel.requested())
    co_await call->wake.wait_until(Clock::now() + std::chrono::hours(1));  // the call's deadline ends it
  caller.cancel.disarm();
  call->relay = nullptr;
  if (call->result) co_return std::move(*call->result);
  if (call->cancel.requested()) co_return make_error(ErrorCode::cancelled, "the client cancelled the request");
  // Parked: the client is asked, and its retry with this requestState continues the call.
  json requests = json::object();
  for (auto& [key, q] : call->questions) {
    q.asked = true;
    requests[key] = q.request;
  }
  char token[40];
  std::snprintf(token, sizeof token, "%016llx%016llx", static_cast<unsigned long long>(random64_()),
                static_cast<unsigned long long>(random64_()));
  call->token = std::string(kParkedPrefix) + token;
  parked_[call->token] = call;
  json input = {
      {"resultType", "input_required"}, {"inputRequests", std::move(requests)}, {"requestState", call->token}};
  co_return input;
}

template <class View>
asio::awaitable<Answer> McpEndpoint::call_tool(Caller& caller, Upstream& upstream, View message) {
  const json id = message["id"].value();
  const View params = message["params"];
  const View name = params["name"];
  const View given = params["arguments"];
  const auto deadline = upstream.call_deadline();
  if (!name.is_string() || (!given.absent() && !given.is_object()))
    co_return Answer{
        200, mcp::make_error(id, mcp::kInvalidParams, "tools/call needs a name and an arguments object"), {}};
  const std::string tool(name.str());
  json arguments = passed_on(given, caller.repeated_keys);
  const View meta = params["_meta"];

  // On the heap: a successful call is recorded once its answer is out (Answer::call).
  auto rec = std::make_unique<CallRecorder>(metrics_, calls_, "outbound", upstream.name(), "tools/call", tool, "");
  auto fail = [&](const Error& e, std::string_view case_id = {}) {
    rec->set_tool_listed(upstream.lists_tool(tool));
    rec->finish(outcome_label(e.code), code_name(e.code));
    Answer a = e.code == ErrorCode::unknown_tool
                   ? Answer{200, mcp::make_error(id, mcp::kInvalidParams, "Unknown tool: " + tool), {}}
                   : failure(caller, id, e);
    if (!case_id.empty()) a.headers.emplace_back(config_.case_id.header, std::string(case_id));
    return a;
  };

  // The tool's x-mcp-header parameters must agree with their Mcp-Param-* headers.
  Result<std::shared_ptr<const mcp::ToolCatalog>> catalog = upstream.fresh_tools();
  if (!catalog.value()) catalog = co_await upstream.tools(deadline);
  if (!catalog) co_return fail(catalog.error());
  if (const auto* info = catalog.value()->find(tool); info && caller.modern()) {
    if (!info->header_params.empty() && is_json_text(arguments)) arguments = given.value();
    const mcp::HeaderLookup header = mcp::lookup_in(caller.req);
    if (auto refusal = mcp::check_param_headers(info->header_params, arguments, header)) {
      rec->finish("rejected", "header_mismatch");
      co_return Answer{refusal->status, mcp::make_error(id, refusal->code, refusal->message), {}};
    }
  }

  // case_id: the header, else the _meta key, else the argument, else a new one.
  std::optional<std::string_view> case_header;
  if (auto it = caller.req.find(config_.case_id.header); it != caller.req.end())
    case_header = std::string_view(it->value().data(), it->value().size());
  std::string meta_case_id;
  if (const View meta_value = meta[config_.case_id.meta_key]; !case_header && meta_value.is_string()) {
    meta_case_id = meta_value.str();
    case_header = meta_case_id;
  }
  auto case_id =
      mcp::resolve_case_id(case_header, given[config_.case_id.argument], config_.case_id.argument, random64_);
  if (!case_id) co_return fail(case_id.error());
  rec->set_case_id(case_id.value());
  rec->start();
  caller.relay->set_header(config_.case_id.header, case_id.value());

  Upstream::CallExtras extras;
  relay_into(caller, extras, meta["progressToken"].value(), upstream.name());
  for (const char* key : {"inputResponses", "requestState"})
    if (const View given_value = params[key]; !given_value.absent()) extras.retry[key] = given_value.value();

  // A 2026-07-28 client in front of a session upstream that may ask it something.
  const View state = params["requestState"];
  const bool bridged = caller.modern() && upstream.era() && *upstream.era() != Era::stateless &&
                       mcp::answers_server_requests(caller.capabilities);
  Result<json> result = make_error(ErrorCode::internal, "not called");
  if (caller.modern() && state.str().starts_with(kParkedPrefix)) {
    const json given_params = params.value();
    result = co_await resume_parked(caller, tool, given_params);
  } else if (bridged) {
    const json progress_token = meta["progressToken"].value();
    result = co_await start_parked(caller, upstream, tool, arguments, case_id.value(), deadline, progress_token);
  } else {
    // Only a session client's call is made again (below), with the same arguments. (Chosen
    // before the call: g++ 12 frees a temporary made in a conditional there twice.)
    json sent = caller.session ? arguments : std::move(arguments);
    result = co_await upstream.call_tool(tool, std::move(sent), case_id.value(), deadline, extras);
  }
  for (int round = 0; result && caller.session && input_required(result.value()); ++round) {
    // A 2026-07-28 upstream asks its input of a session client as server requests.
    if (round == kMaxInputRounds) {
      result = make_error(ErrorCode::upstream_protocol, "the upstream kept asking for input");
      break;
    }
    auto responses = co_await gather_input(caller, result.value(), deadline);
    if (!responses) {
      result = std::move(responses).error();
      break;
    }
    extras.retry = std::move(responses).value();
    result = co_await upstream.call_tool(tool, arguments, case_id.value(), deadline, extras);
  }
  rec->set_tool_listed(upstream.lists_tool(tool));
  if (!result) co_return fail(result.error(), case_id.value());

  json& r = result.value();
  const bool asks_input = input_required(r);
  const bool tool_error = r.contains("isError") && r["isError"] == true;
  rec->end(asks_input ? "input_required" : tool_error ? "tool_error" : "ok");
  if (caller.modern()) {
    if (!r.contains("resultType")) r["resultType"] = "complete";  // an upstream of an earlier revision
  } else {
    for (const char* key : {"resultType", "ttlMs", "cacheScope"}) r.erase(key);
  }
  Answer a{200, mcp::result_message(id, r), {}, std::move(rec)};
  a.headers.emplace_back(config_.case_id.header, case_id.value());
  co_return a;
}

asio::awaitable<Result<json>> McpEndpoint::gather_input(Caller& caller, const json& result, TimePoint deadline) {
  const json& requests = member(result, "inputRequests");
  if (!requests.is_object() || requests.empty())
    co_return make_error(ErrorCode::upstream_protocol, "upstream asked for input without inputRequests");
  json responses = json::object();
  for (const auto& [key, request] : requests.items()) {
    const json& method = member(request, "method");
    if (!method.is_string())
      co_return make_error(ErrorCode::upstream_protocol, "upstream sent a malformed input request");
    const bool can = caller.session->can_answer(method.get<std::string>());
    metrics_
        .counter(metrics_.server_requests_total,
                 {{"server", caller.session->server}, {"outcome", can ? "relayed" : "refused"}})
        .Increment();
    if (!can)
      co_return Error{ErrorCode::upstream_rpc_error, "the upstream asked for input this client cannot give",
                      mcp::make_error(nullptr, mcp::kInvalidRequest,
                                      "the server asked for " + method.get<std::string>() +
                                          ", which this client did not declare")["error"]};
    auto answer = co_await ask(caller, method, member(request, "params"), deadline);
    if (!answer) co_return std::move(answer).error();
    if (auto err = answer->find("error"); err != answer->end())
      co_return Error{ErrorCode::upstream_rpc_error, "the client refused the server's request", *err};
    responses[key] = member(answer.value(), "result");
  }
  json retry = {{"inputResponses", std::move(responses)}};
  if (result.contains("requestState")) retry["requestState"] = result["requestState"];
  co_return retry;
}

}  // namespace mcp_sidecar::outbound

#include "outbound/streamable_http.hpp"

#include "mcp/json_parse.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/protocol.hpp"
#include "mcp/sse.hpp"
#include "telemetry/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

namespace mcp_sidecar::outbound {

namespace bhttp = boost::beast::http;

namespace {

constexpr std::size_t kErrorBodyLimit = 64 << 10;
// After the response event, how long the rest of an SSE stream may take to end before the
// connection is given up instead of reused.
constexpr auto kStreamTailWait = std::chrono::milliseconds(200);
// Background messages (replies to server requests, cancellations) get this long.
constexpr auto kBackgroundTimeout = std::chrono::seconds(5);

Error transport_error(ErrorCode code, std::string message, bool not_delivered = false) {
  Error e{code, std::move(message)};
  e.not_delivered = not_delivered;
  return e;
}

bool is_timeout(const boost::system::error_code& ec) { return ec == boost::beast::error::timeout; }

// The state of one request while its answer is awaited, across stream resumptions.
struct Pending {
  json id;             // null for a notification
  TimePoint deadline;  // may move on progress (RpcOptions::progress_extension)
  const RpcOptions& options;
  bool sent = false;          // the whole request reached the server's socket
  std::string last_event_id;  // for GET + Last-Event-ID
  std::optional<long> retry_ms;
};

class StreamableHttpSession final : public UpstreamSession, public std::enable_shared_from_this<StreamableHttpSession> {
 public:
  StreamableHttpSession(http::ConnectionPool& pool, const StreamableHttpSettings& settings)
      : pool_(pool), settings_(settings) {}

  asio::awaitable<Result<void>> open(TimePoint deadline) override {
    json params = {{"protocolVersion", mcp::kSessionRevisions.front()},
                   {"capabilities", json::object()},
                   {"clientInfo", {{"name", mcp::kClientName}, {"version", settings_.client_version}}}};
    const RpcOptions options{.deadline = deadline};
    auto reply = co_await exchange(mcp::make_request(next_id_++, "initialize", params), options);
    if (!reply) co_return std::move(reply).error();
    const json& msg = reply.value();
    if (msg.contains("error"))
      co_return Error{ErrorCode::upstream_rpc_error, "upstream refused initialize", msg["error"]};
    const json& result = msg["result"];
    if (!result.is_object() || !result.contains("protocolVersion") || !result["protocolVersion"].is_string())
      co_return make_error(ErrorCode::upstream_protocol, "upstream initialize result has no protocolVersion");
    std::string version = result["protocolVersion"];
    if (!mcp::is_session_revision(version))
      co_return make_error(ErrorCode::upstream_protocol, "upstream chose unsupported protocol version " + version);
    info_.protocol_version = version;
    if (auto it = result.find("serverInfo"); it != result.end() && it->is_object()) info_.server_info = *it;
    if (auto it = result.find("capabilities"); it != result.end() && it->is_object()) info_.capabilities = *it;

    auto sent = co_await notify("notifications/initialized", json(), deadline);
    if (!sent) co_return std::move(sent).error();
    co_return Result<void>{};
  }

  asio::awaitable<Result<json>> request(std::string_view method, const json& params,
                                        const RpcOptions& options) override {
    co_return co_await exchange(mcp::make_request(next_id_++, method, params), options);
  }

  asio::awaitable<Result<void>> notify(std::string_view method, const json& params, TimePoint deadline) override {
    const RpcOptions options{.deadline = deadline};
    auto r = co_await exchange(mcp::make_notification(method, params), options);
    if (!r) co_return std::move(r).error();
    co_return Result<void>{};
  }

  asio::awaitable<void> close(TimePoint deadline) override {
    if (closed_) co_return;
    closed_ = true;
    if (info_.session_id.empty() || !alive_) co_return;
    auto lease = co_await pool_.acquire(deadline);
    if (!lease) co_return;
    auto req = build(bhttp::verb::delete_, {}, {});
    if (auto ec = co_await (*lease)->write(req, deadline)) co_return;
    http::ResponseParser parser;
    parser.body_limit(kErrorBodyLimit);
    if (auto ec = co_await (*lease)->read_header(parser, deadline)) co_return;
    if (auto ec = co_await (*lease)->read_rest(parser, deadline)) co_return;
    (*lease)->reusable = parser.keep_alive();
  }

  bool alive() const override { return alive_; }
  std::string_view failure_reason() const override { return failure_reason_; }
  const SessionInfo& info() const override { return info_; }

 private:
  http::ClientRequest build(bhttp::verb verb, std::string body, std::string_view case_id) const {
    http::ClientRequest req{verb, pool_.url().target, 11};
    req.set(bhttp::field::host, pool_.url().host_header);
    req.set(bhttp::field::user_agent, "mcp-sidecar/" + settings_.client_version);
    if (verb == bhttp::verb::post) {
      req.set(bhttp::field::content_type, "application/json");
      req.set(bhttp::field::accept, "application/json, text/event-stream");
    } else if (verb == bhttp::verb::get) {
      req.set(bhttp::field::accept, "text/event-stream");
    }
    if (!info_.session_id.empty()) req.set(mcp::kSessionIdHeader, info_.session_id);
    if (!info_.protocol_version.empty()) req.set(mcp::kProtocolVersionHeader, info_.protocol_version);
    if (!settings_.authorization.empty()) req.set(bhttp::field::authorization, settings_.authorization);
    if (!case_id.empty()) req.set(settings_.case_id_header, case_id);
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
  }

  void lose(std::string reason) {
    alive_ = false;
    if (failure_reason_.empty()) failure_reason_ = std::move(reason);
  }

  // Posts one message: for a request, returns the response with its id; for a notification,
  // null once the server accepted it (202). A request abandoned at its deadline after it was
  // sent is cancelled upstream with notifications/cancelled.
  asio::awaitable<Result<json>> exchange(json message, const RpcOptions& options) {
    const bool is_request = message.contains("id");
    Pending p{is_request ? message["id"] : json(), options.deadline, options};
    auto result = co_await post(std::move(message), p);
    if (!result && p.sent && is_request && result.error().code == ErrorCode::timeout && !pool_.aborted()) {
      json params = {{"requestId", p.id}, {"reason", "timeout"}};
      send_in_background(mcp::make_notification("notifications/cancelled", std::move(params)));
    }
    co_return result;
  }

  asio::awaitable<Result<json>> post(json message, Pending& p) {
    auto lease_result = co_await pool_.acquire(p.deadline);
    if (!lease_result) co_return std::move(lease_result).error();
    auto& lease = lease_result.value();
    auto& conn = *lease;
    const bool initializing = info_.protocol_version.empty();
    const bool expect_reply = !p.id.is_null();

    auto req = build(bhttp::verb::post, message.dump(), p.options.case_id);
    if (auto ec = co_await conn.write(req, p.deadline)) {
      if (pool_.aborted()) co_return make_error(ErrorCode::cancelled, "the sidecar is shutting down");
      // The whole request never reached the server: it cannot have acted on it.
      if (is_timeout(ec)) co_return transport_error(ErrorCode::timeout, "call timed out sending the request", true);
      co_return transport_error(
          ErrorCode::unavailable,
          lease.reused() ? "upstream closed a kept-alive connection" : "upstream connection failed", true);
    }
    p.sent = true;

    http::ResponseParser parser;
    parser.body_limit(settings_.max_response_bytes);
    parser.header_limit(64 << 10);
    if (auto ec = co_await conn.read_header(parser, p.deadline)) co_return read_failure(ec, "before the response");

    const auto& head = parser.get();
    const unsigned status = head.result_int();
    if (auto sid = head[mcp::kSessionIdHeader]; initializing && !sid.empty()) info_.session_id = std::string(sid);

    if (status == 202 || (status == 200 && !expect_reply)) {
      if (auto ec = co_await conn.read_rest(parser, p.deadline)) co_return read_failure(ec, "in an empty response");
      conn.reusable = parser.keep_alive();
      if (expect_reply)
        co_return make_error(ErrorCode::upstream_protocol, "upstream accepted a request without answering it");
      co_return json();
    }
    if (status == 404 && !info_.session_id.empty() && !initializing) {
      // The server no longer knows this session: it did not run the request.
      lose("session_gone");
      co_return transport_error(ErrorCode::unavailable, "upstream session expired", true);
    }
    if (status != 200) co_return co_await error_status(conn, parser, status, p.deadline);

    auto content_type = head[bhttp::field::content_type];
    if (content_type.starts_with("application/json")) {
      if (auto ec = co_await conn.read_rest(parser, p.deadline)) co_return read_failure(ec, "in the response body");
      conn.reusable = parser.keep_alive();
      auto body = mcp::parse_json(parser.get().body());
      if (!body) co_return make_error(ErrorCode::upstream_protocol, "upstream sent a malformed JSON response");
      if (auto found = find_response(*body, p.id)) co_return std::move(*found);
      co_return make_error(ErrorCode::upstream_protocol, "upstream response does not answer the request");
    }
    if (!content_type.starts_with("text/event-stream"))
      co_return make_error(ErrorCode::upstream_protocol, "upstream answered with an unexpected content type");

    auto answer = co_await read_events(conn, parser, p);
    if (!answer) co_return std::move(answer).error();
    if (answer.value()) co_return std::move(*answer.value());
    co_return co_await resume(p);
  }

  // Reads an SSE stream, handling events as they arrive, until the one answering `p.id`
  // (returned) or the end of the stream (nullopt: resume if the server gave event ids).
  asio::awaitable<Result<std::optional<json>>> read_events(http::ClientConnection& conn, http::ResponseParser& parser,
                                                           Pending& p) {
    parser.body_limit(boost::none);  // a stream is bounded per event, not in total
    mcp::SseParser sse(settings_.max_response_bytes);
    std::optional<json> response;
    bool malformed = false;
    auto on_event = [&](mcp::SseEvent& ev) {
      if (ev.data.empty()) return true;  // priming event or keepalive
      auto msg = mcp::parse_json(ev.data);
      if (!msg) {
        malformed = true;
        return false;
      }
      if (auto found = find_response(*msg, p.id)) {
        response = std::move(*found);
        return false;
      }
      dispatch(*msg, p);
      return true;
    };
    for (;;) {
      auto& body = parser.get().body();
      if (!body.empty()) {
        sse.feed(body, on_event);
        body.clear();
        if (!sse.last_event_id().empty()) p.last_event_id = sse.last_event_id();
        if (sse.retry_ms()) p.retry_ms = sse.retry_ms();
        if (malformed) co_return make_error(ErrorCode::upstream_protocol, "upstream sent a malformed event");
        if (sse.failed()) co_return make_error(ErrorCode::upstream_protocol, "upstream event exceeds the size limit");
        if (response) break;
      }
      if (parser.is_done()) {
        conn.reusable = parser.keep_alive();
        co_return std::optional<json>{};
      }
      if (auto ec = co_await conn.read_some(parser, p.deadline)) co_return read_failure(ec, "mid-stream");
    }
    // The server should now end the stream; wait briefly so the connection can be reused.
    auto tail_deadline = std::min(p.deadline, Clock::now() + kStreamTailWait);
    while (!parser.is_done()) {
      if (auto ec = co_await conn.read_some(parser, tail_deadline)) break;
      parser.get().body().clear();
    }
    conn.reusable = parser.is_done() && parser.keep_alive();
    co_return std::move(response);
  }

  // The POST's stream ended before the response: resume it with GET + Last-Event-ID (2025-11-25
  // resumability), waiting the server's `retry:` hint first, until the response arrives.
  asio::awaitable<Result<json>> resume(Pending& p) {
    for (int attempt = 0; attempt < settings_.max_resumptions; ++attempt) {
      if (p.last_event_id.empty()) {
        lose("transport");
        co_return make_error(ErrorCode::unavailable, "upstream ended the stream before the response");
      }
      if (p.retry_ms && *p.retry_ms > 0) {
        auto wake = Clock::now() + milliseconds(*p.retry_ms);
        if (wake >= p.deadline)
          co_return make_error(ErrorCode::timeout, "call timed out before the stream could resume");
        co_await sleep_for(wake - Clock::now());
      }
      if (settings_.on_resumption) settings_.on_resumption();
      auto lease_result = co_await pool_.acquire(p.deadline);
      if (!lease_result) co_return std::move(lease_result).error();
      auto& conn = *lease_result.value();
      auto req = build(bhttp::verb::get, {}, p.options.case_id);
      req.set(mcp::kLastEventIdHeader, p.last_event_id);
      if (auto ec = co_await conn.write(req, p.deadline)) co_return read_failure(ec, "resuming the stream");
      http::ResponseParser parser;
      parser.header_limit(64 << 10);
      if (auto ec = co_await conn.read_header(parser, p.deadline)) co_return read_failure(ec, "resuming the stream");
      const unsigned status = parser.get().result_int();
      if (status == 404) {
        lose("session_gone");
        co_return make_error(ErrorCode::unavailable, "upstream session expired while resuming the stream");
      }
      if (status != 200 || !parser.get()[bhttp::field::content_type].starts_with("text/event-stream"))
        co_return make_error(ErrorCode::upstream_protocol,
                             "upstream refused to resume the stream (HTTP " + std::to_string(status) + ")");
      auto answer = co_await read_events(conn, parser, p);
      if (!answer) co_return std::move(answer).error();
      if (answer.value()) co_return std::move(*answer.value());
    }
    co_return make_error(ErrorCode::unavailable, "upstream stream kept ending before the response");
  }

  // Server-to-client traffic on a request's stream.
  void dispatch(const json& msg, Pending& p) {
    if (msg.is_array()) {
      for (const auto& m : msg) dispatch(m, p);
      return;
    }
    const auto& options = p.options;
    auto kind = mcp::classify(msg);
    if (kind == mcp::MessageKind::request) {
      if (msg["method"] == "ping") return send_in_background(mcp::make_result(msg["id"], json::object()));
      if (options.on_message) return options.on_message(msg);
      return send_in_background(
          mcp::make_error(msg["id"], mcp::kMethodNotFound, "the sidecar's client declared no such capability"));
    }
    if (kind != mcp::MessageKind::notification) return;
    if (options.progress_extension.count() > 0 && msg["method"] == "notifications/progress")
      p.deadline = std::min(Clock::now() + options.progress_extension, options.max_deadline);
    if (options.on_message) options.on_message(msg);
  }

  // Posts a message of our own (a reply to a server request, a cancellation) in the background.
  void send_in_background(json message) {
    auto self = shared_from_this();
    asio::co_spawn(
        pool_.executor(),
        [self, message = std::move(message)]() -> asio::awaitable<void> {
          const RpcOptions options{.deadline = Clock::now() + kBackgroundTimeout};
          Pending p{json(), options.deadline, options};
          auto r = co_await self->post(message, p);
          if (!r) log::debug("upstream_send_failed", {{"error", r.error().message}});
        },
        asio::detached);
  }

  static std::optional<json> find_response(const json& body, const json& id) {
    if (id.is_null()) return std::nullopt;
    auto matches = [&](const json& m) {
      auto kind = mcp::classify(m);
      return (kind == mcp::MessageKind::result || kind == mcp::MessageKind::error) && m["id"] == id;
    };
    if (body.is_array()) {
      for (const auto& m : body)
        if (matches(m)) return m;
      return std::nullopt;
    }
    if (matches(body)) return body;
    return std::nullopt;
  }

  Error read_failure(const boost::system::error_code& ec, const char* where) {
    // The sidecar itself cut the exchange at the end of the shutdown grace period: the session
    // is fine and will be closed with DELETE.
    if (pool_.aborted()) return make_error(ErrorCode::cancelled, "the sidecar is shutting down");
    if (is_timeout(ec))
      return make_error(ErrorCode::timeout, std::string("call timed out waiting for the upstream ") + where);
    if (ec == bhttp::error::body_limit)
      return make_error(ErrorCode::upstream_protocol, "upstream response exceeds the size limit");
    lose("transport");
    if (ec.category() == asio::error::get_ssl_category())
      // e.g. the server refused our client certificate after the handshake (TLS 1.3 alerts).
      return make_error(ErrorCode::unavailable,
                        "TLS error with the upstream " + std::string(where) + ": " + ec.message());
    return make_error(ErrorCode::unavailable, std::string("upstream connection lost ") + where);
  }

  asio::awaitable<Result<json>> error_status(http::ClientConnection& conn, http::ResponseParser& parser,
                                             unsigned status, TimePoint deadline) {
    parser.body_limit(kErrorBodyLimit);
    std::optional<json> rpc_error;
    if (auto ec = co_await conn.read_rest(parser, deadline); !ec) {
      conn.reusable = parser.keep_alive();
      // The SDKs answer some refusals with a JSON-RPC error body: pass that along as is.
      if (auto body = mcp::parse_json(parser.get().body()); body && mcp::classify(*body) == mcp::MessageKind::error)
        rpc_error = (*body)["error"];
    }
    const std::string code = "(HTTP " + std::to_string(status) + ")";
    if (status == 401 || status == 403)
      co_return Error{ErrorCode::upstream_protocol, "upstream refused the sidecar's credentials " + code,
                      rpc_error.value_or(nullptr)};
    if (rpc_error) co_return Error{ErrorCode::upstream_rpc_error, "upstream refused the request " + code, *rpc_error};
    if (status >= 500) co_return make_error(ErrorCode::unavailable, "upstream failed " + code);
    co_return make_error(ErrorCode::upstream_protocol, "upstream answered " + code);
  }

  http::ConnectionPool& pool_;
  const StreamableHttpSettings& settings_;
  SessionInfo info_;
  std::int64_t next_id_ = 1;
  bool alive_ = true;
  bool closed_ = false;
  std::string failure_reason_;
};

}  // namespace

std::shared_ptr<UpstreamSession> make_streamable_http_session(http::ConnectionPool& pool,
                                                              const StreamableHttpSettings& settings) {
  return std::make_shared<StreamableHttpSession>(pool, settings);
}

}  // namespace mcp_sidecar::outbound

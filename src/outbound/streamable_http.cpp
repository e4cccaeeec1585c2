#include "outbound/transports.hpp"

#include "core/json_write.hpp"
#include "http/wire.hpp"
#include "mcp/headers.hpp"
#include "mcp/json_parse.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/protocol.hpp"
#include "mcp/sse.hpp"
#include "outbound/wire.hpp"
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

using wire::kBackgroundTimeout;
using wire::kErrorBodyLimit;
using wire::transport_error;

// After the response event, how long the rest of an SSE stream may take to end before the
// connection is given up instead of reused.
constexpr auto kStreamTailWait = std::chrono::milliseconds(200);
// The standalone GET stream: connect/answer bound, a quiet stream's read window (then it is
// opened again), the pause between attempts, and how many failures in a row end it.
constexpr auto kStandaloneConnect = std::chrono::seconds(10);
constexpr auto kStandaloneQuiet = std::chrono::minutes(5);
constexpr auto kStandalonePause = std::chrono::seconds(1);
constexpr int kStandaloneAttempts = 3;
bool is_timeout(const boost::system::error_code& ec) { return ec == boost::beast::error::timeout; }

// A message to post, serialized once. A request keeps its id, method and params beside the
// text (the answer is matched by id; 2026-07-28 mirrors method and params into headers), so
// params are never copied into a message only to be serialized.
struct Outgoing {
  std::string text;
  json id;                       // null: a notification or a reply, no answer awaited
  std::string_view method;       // empty: a reply
  const json* params = nullptr;  // outlives the exchange (the caller's)

  static Outgoing request(json id, std::string_view method, const json& params) {
    auto text = mcp::request_text(id, method, params);
    return {std::move(text), std::move(id), method, &params};
  }
};

// The state of one request while its answer is awaited, across stream resumptions.
struct Pending {
  json id;             // null for a notification
  TimePoint deadline;  // may move on progress (RpcOptions::progress_extension)
  const RpcOptions& options;
  bool sent = false;          // the whole request reached the server's socket
  std::string last_event_id;  // for GET + Last-Event-ID
  std::optional<long> retry_ms;
};

// While a request is on `conn`, cancelling it resets the connection, so its read fails at once
// and what is unsent of it is dropped.
struct ArmedCancel {
  Cancellation* cancel;
  ArmedCancel(Cancellation* c, http::ClientConnection& conn) : cancel(c) {
    if (cancel) cancel->arm([&conn] { conn.abort(); });
  }
  ~ArmedCancel() {
    if (cancel) cancel->disarm();
  }
  ArmedCancel(const ArmedCancel&) = delete;
  ArmedCancel& operator=(const ArmedCancel&) = delete;
};

class StreamableHttpSession final : public UpstreamSession, public std::enable_shared_from_this<StreamableHttpSession> {
 public:
  StreamableHttpSession(http::ConnectionPool& pool, const TransportSettings& settings, Era era)
      : pool_(pool), settings_(settings), stateless_(era == Era::stateless), quiet_(pool.executor()) {
    info_.era = stateless_ ? Era::stateless : Era::sessions;
    if (stateless_) info_.protocol_version = std::string(mcp::kStatelessRevision);
  }

  asio::awaitable<Result<void>> open(TimePoint deadline) override {
    if (stateless_) co_return co_await discover(deadline);
    // A server that got initialize twice keeps one session too many, until it expires.
    const RpcOptions options{.deadline = deadline, .idempotent = true};
    const json params = wire::initialize_params(settings_);
    auto reply = co_await exchange(Outgoing::request(next_id_++, "initialize", params), options);
    if (!reply) co_return std::move(reply).error();
    if (auto err = reply->find("error"); err != reply->end()) {
      // A server of the 2026-07-28 era has no initialize (or names the versions it speaks).
      const int code = mcp::error_code_of(*err);
      if (code == mcp::kUnsupportedProtocolVersion || code == mcp::kMethodNotFound) era_contradicted_ = true;
    }
    if (auto applied = wire::apply_initialize(reply.value(), info_, false); !applied) co_return applied;

    auto sent = co_await notify("notifications/initialized", json(), deadline);
    if (!sent) co_return std::move(sent).error();
    co_return Result<void>{};
  }

  asio::awaitable<Result<json>> request(std::string_view method, const json& params,
                                        const RpcOptions& options) override {
    if (!stateless_) co_return co_await exchange(Outgoing::request(next_id_++, method, params), options);
    json with_meta = params;
    mcp::add_request_meta(with_meta, mcp::kStatelessRevision, client_info(),
                          options.client_capabilities ? *options.client_capabilities : json::object());
    auto reply = co_await exchange(Outgoing::request(next_id_++, method, with_meta), options);
    // "Select a mutually supported version and retry": a refusal that lists this very revision
    // as supported (a server that changed its mind, or a test of clients) earns one retry, with
    // a new id; the refused request was not run.
    if (!reply && reply.error().code == ErrorCode::upstream_version_unsupported &&
        mcp::supports_version(reply.error().detail, mcp::kStatelessRevision) && Clock::now() < options.deadline)
      reply = co_await exchange(Outgoing::request(next_id_++, method, with_meta), options);
    co_return reply;
  }

  asio::awaitable<Result<void>> notify(std::string_view method, const json& params, TimePoint deadline) override {
    // 2026-07-28 defines no client-to-server notifications over HTTP (closing a stream cancels).
    if (stateless_) co_return Result<void>{};
    const RpcOptions options{.deadline = deadline};
    Outgoing message{dump_json(mcp::make_notification(method, params))};
    auto r = co_await exchange(std::move(message), options);
    if (!r) co_return std::move(r).error();
    co_return Result<void>{};
  }

  void on_server_message(std::function<void(const json&)> handler) override {
    if (stateless_ || server_handler_) return;
    server_handler_ = std::move(handler);
    asio::co_spawn(
        pool_.executor(), [self = shared_from_this()] { return self->standalone_stream(); }, asio::detached);
  }

  asio::awaitable<void> close(TimePoint deadline) override {
    if (closed_) co_return;
    closed_ = true;
    if (standalone_) standalone_->close();
    // A session the server forgot (404) has nothing to end; one lost with a broken connection
    // most likely lives on there.
    if (stateless_ || info_.session_id.empty() || failure_reason_ == "session_gone") co_return;
    while (exchanges_ > 0)
      if (!co_await quiet_.wait_until(deadline) && Clock::now() >= deadline) co_return;
    auto req = build(bhttp::verb::delete_, {}, {});
    for (bool fresh = false;; fresh = true) {
      auto lease = co_await pool_.acquire(deadline, fresh);
      if (!lease) co_return;
      auto& conn = *lease.value();
      http::ResponseParser parser;
      parser.body_limit(kErrorBodyLimit);
      auto ec = co_await conn.write(req, deadline);
      if (!ec) ec = co_await conn.read_header(parser, deadline);
      if (!ec) ec = co_await conn.read_rest(parser, deadline);
      if (!ec) conn.reusable = parser.keep_alive();
      // DELETE is idempotent: one more try when a kept-alive connection died under it.
      if (!ec || fresh || !lease->reused() || is_timeout(ec) || conn.response_started()) co_return;
    }
  }

  bool alive() const override { return alive_; }
  std::string_view failure_reason() const override { return failure_reason_; }
  const SessionInfo& info() const override { return info_; }
  bool era_contradicted() const override { return era_contradicted_; }

 private:
  json client_info() const { return {{"name", mcp::kClientName}, {"version", settings_.client_version}}; }

  // 2026-07-28: opening a "session" is asking the server what it speaks.
  asio::awaitable<Result<void>> discover(TimePoint deadline) {
    const RpcOptions options{.deadline = deadline, .idempotent = true};
    auto reply = co_await request("server/discover", json::object(), options);
    if (!reply) co_return std::move(reply).error();
    const json& msg = reply.value();
    if (auto err = msg.find("error"); err != msg.end()) {
      // Over HTTP a modern server refuses with a 4xx (error_status); an error in a 200 comes from
      // a server of an earlier era (e.g. method not found).
      era_contradicted_ = true;
      co_return Error{ErrorCode::upstream_rpc_error, "upstream refused server/discover", *err};
    }
    const json& result = msg["result"];
    if (!result.is_object()) co_return make_error(ErrorCode::upstream_protocol, "malformed server/discover result");
    if (auto versions = result.find("supportedVersions");
        versions == result.end() || !mcp::lists_version(*versions, mcp::kStatelessRevision)) {
      // Not a DiscoverResult offering this revision: an earlier server that answers unknown
      // methods with an empty result, a modern one that dropped 2026-07-28, or a dual-era one
      // that speaks only session revisions to us. initialize is the way in.
      era_contradicted_ = true;
      co_return Error{ErrorCode::upstream_version_unsupported, "upstream does not offer revision 2026-07-28",
                      versions != result.end() ? *versions : json()};
    }
    if (auto meta = result.find("_meta"); meta != result.end() && meta->is_object())
      if (auto it = meta->find(mcp::kMetaServerInfo); it != meta->end() && it->is_object()) info_.server_info = *it;
    if (auto it = result.find("serverInfo"); it != result.end() && it->is_object()) info_.server_info = *it;
    if (auto it = result.find("capabilities"); it != result.end() && it->is_object()) info_.capabilities = *it;
    if (auto it = result.find("instructions"); it != result.end() && it->is_string()) info_.instructions = *it;
    co_return Result<void>{};
  }

  // The fields of every request to the server, in order, each to `set(name, value)`.
  template <class Set>
  void fields(bhttp::verb verb, std::string_view case_id, Set&& set) const {
    set("Host", pool_.url().host_header);
    set("User-Agent", user_agent_);
    if (verb == bhttp::verb::post) {
      set("Content-Type", "application/json");
      set("Accept", "application/json, text/event-stream");
    } else if (verb == bhttp::verb::get) {
      set("Accept", "text/event-stream");
    }
    if (!info_.session_id.empty()) set(mcp::kSessionIdHeader, info_.session_id);
    if (!info_.protocol_version.empty()) set(mcp::kProtocolVersionHeader, info_.protocol_version);
    if (!settings_.authorization.empty()) set("Authorization", settings_.authorization);
    if (!case_id.empty()) set(settings_.case_id_header, case_id);
  }

  http::ClientRequest build(bhttp::verb verb, std::string body, std::string_view case_id) const {
    http::ClientRequest req{verb, pool_.url().target, 11};
    fields(verb, case_id, [&req](std::string_view name, std::string_view value) { req.set(name, value); });
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
  }

  // A POST as bytes (http/wire.hpp): the fields of build(), then for 2026-07-28 the headers
  // that mirror the body (Mcp-Method, Mcp-Name, Mcp-Param-*).
  std::string post_wire(const Outgoing& message, const RpcOptions& options) const {
    auto wire = http::WireMessage::request("POST", pool_.url().target);
    auto set = [&wire](std::string_view name, std::string_view value) { wire.field(name, value); };
    fields(bhttp::verb::post, options.case_id, set);
    if (stateless_ && !message.method.empty()) {
      set(mcp::kMethodHeader, message.method);
      static const json no_params = json::object();
      const json& params = message.params ? *message.params : no_params;
      if (auto name = mcp::mirrored_name(message.method, params); !name.empty())
        set(mcp::kNameHeader, mcp::encode_header_value(name));
      for (const auto& [header, value] : options.headers) set(header, value);
    }
    return std::move(wire).finish(message.text);
  }

  void lose(std::string reason) {
    alive_ = false;
    if (failure_reason_.empty()) failure_reason_ = std::move(reason);
  }

  // Posts one message: for a request, returns the response with its id; for a notification,
  // null once the server accepted it (202). A request abandoned at its deadline after it was
  // sent is cancelled upstream with notifications/cancelled.
  asio::awaitable<Result<json>> exchange(Outgoing message, const RpcOptions& options) {
    const bool is_request = !message.id.is_null();
    Pending p{message.id, options.deadline, options};
    struct Counted {  // close() waits for the exchanges in flight
      StreamableHttpSession& s;
      explicit Counted(StreamableHttpSession& session) : s(session) { ++s.exchanges_; }
      ~Counted() {
        if (--s.exchanges_ == 0) s.quiet_.notify_all();
      }
    } counted(*this);
    auto result = co_await post(std::move(message), p);
    const bool cancelled = !result && options.cancel && options.cancel->requested();
    if (cancelled) result = Error{ErrorCode::cancelled, "the caller cancelled the request"};  // never resent
    // 2025 revisions cancel with a notification; in 2026-07-28 the closed stream is the signal.
    if (!result && p.sent && is_request && (cancelled || result.error().code == ErrorCode::timeout) &&
        !pool_.aborted() && !stateless_) {
      json params = {{"requestId", p.id}, {"reason", cancelled ? "cancelled by the client" : "timeout"}};
      send_in_background(mcp::make_notification("notifications/cancelled", std::move(params)));
    }
    co_return result;
  }

  // Posts one message and reads its answer. A server may close a kept-alive connection just as
  // we reuse it: what it then never read is sent once more on a fresh connection (RFC 9112
  // 9.3.1), when it provably never arrived whole (the write failed) or when it may safely
  // arrive twice (a notification, a reply, a request marked idempotent) and the connection
  // ended before any byte of the answer. Anything else lost that way may have run: it fails.
  asio::awaitable<Result<json>> post(Outgoing message, Pending& p) {
    const bool initializing = info_.protocol_version.empty();
    const bool expect_reply = !p.id.is_null();
    const bool repeatable = !expect_reply || p.options.idempotent;
    const std::string req = post_wire(message, p.options);
    for (bool fresh = false;; fresh = true) {
      // An idle connection is taken without suspending: acquire() only when it must connect or wait.
      std::optional<http::ConnectionPool::Lease> lease = fresh ? std::nullopt : pool_.take_idle();
      if (!lease) {
        auto acquired = co_await pool_.acquire(p.deadline, fresh);
        if (!acquired) co_return std::move(acquired).error();
        lease.emplace(std::move(acquired).value());
      }
      auto& conn = **lease;
      if (p.options.cancel && p.options.cancel->requested())
        co_return make_error(ErrorCode::cancelled, "the caller cancelled the request");
      ArmedCancel armed(p.options.cancel, conn);
      const bool may_resend = lease->reused() && !fresh;
      if (auto ec = co_await conn.write(req, p.deadline)) {
        if (pool_.aborted()) co_return make_error(ErrorCode::cancelled, "the sidecar is shutting down");
        // The whole request never reached the server: it cannot have acted on it.
        if (is_timeout(ec)) co_return transport_error(ErrorCode::timeout, "call timed out sending the request", true);
        if (may_resend) continue;
        co_return transport_error(
            ErrorCode::unavailable,
            lease->reused() ? "upstream closed a kept-alive connection" : "upstream connection failed", true);
      }
      p.sent = true;

      http::ResponseParser parser;
      parser.body_limit(settings_.max_response_bytes);
      parser.header_limit(64 << 10);
      if (auto ec = co_await conn.read_header(parser, p.deadline)) {
        const bool unanswered = lease->reused() && !conn.response_started() && !is_timeout(ec);
        if (unanswered && may_resend && repeatable && !pool_.aborted()) continue;
        co_return read_failure(ec, "before the response", unanswered);
      }
      co_return co_await read_response(conn, parser, p, initializing, expect_reply);
    }
  }

  // The rest of post(), once the head of the answer is in.
  asio::awaitable<Result<json>> read_response(http::ClientConnection& conn, http::ResponseParser& parser, Pending& p,
                                              bool initializing, bool expect_reply) {
    const auto& head = parser.get();
    const unsigned status = head.result_int();
    if (auto sid = head[mcp::kSessionIdHeader]; initializing && !stateless_ && !sid.empty())
      info_.session_id = std::string(sid);

    if (status == 202 || (status == 200 && !expect_reply)) {
      if (auto ec = co_await conn.read_rest(parser, p.deadline)) co_return read_failure(ec, "in an empty response");
      conn.reusable = parser.keep_alive();
      if (expect_reply)
        co_return make_error(ErrorCode::upstream_protocol, "upstream accepted a request without answering it");
      co_return json();
    }
    if (status == 404 && !stateless_ && !info_.session_id.empty() && !initializing) {
      // The server no longer knows this session: it did not run the request.
      lose("session_gone");
      co_return transport_error(ErrorCode::unavailable, "upstream session expired", true);
    }
    if (status != 200) co_return co_await error_status(conn, parser, status, p.deadline);

    auto content_type = head[bhttp::field::content_type];
    if (content_type.starts_with("application/json")) {
      if (auto ec = co_await conn.read_rest(parser, p.deadline)) co_return read_failure(ec, "in the response body");
      conn.reusable = parser.keep_alive();
      auto body = parse_message(parser.get().body(), p);
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
      auto msg = parse_message(ev.data, p);
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
      if (stateless_)  // 2026-07-28 streams are not resumable, and there is no session to lose
        co_return make_error(ErrorCode::unavailable, "upstream ended the stream before the response");
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
      if (p.options.cancel && p.options.cancel->requested())
        co_return make_error(ErrorCode::cancelled, "the caller cancelled the request");
      ArmedCancel armed(p.options.cancel, conn);
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

  // The session's GET stream, for what the server sends outside any request; opened again
  // (after a pause) when it ends, until the session closes or the server says it has none.
  asio::awaitable<void> standalone_stream() {
    int failures = 0;
    while (alive_ && !closed_ && failures < kStandaloneAttempts) {
      auto lease = co_await pool_.acquire(Clock::now() + kStandaloneConnect);
      if (lease && !closed_) {
        auto& conn = *lease.value();
        standalone_ = &conn;
        const auto status = co_await read_standalone(conn);
        standalone_ = nullptr;
        if (status == 405) co_return;  // the server offers no such stream
        failures = status == 200 ? 0 : failures + 1;
      } else {
        ++failures;
      }
      if (!closed_) co_await sleep_for(kStandalonePause);
    }
  }

  // One GET stream, read to its end; returns its HTTP status (0: it never answered).
  asio::awaitable<unsigned> read_standalone(http::ClientConnection& conn) {
    auto req = build(bhttp::verb::get, {}, {});
    if (co_await conn.write(req, Clock::now() + kStandaloneConnect)) co_return 0;
    http::ResponseParser parser;
    parser.header_limit(64 << 10);
    if (co_await conn.read_header(parser, Clock::now() + kStandaloneConnect)) co_return 0;
    const unsigned status = parser.get().result_int();
    if (status == 404) lose("session_gone");
    if (status != 200 || !parser.get()[bhttp::field::content_type].starts_with("text/event-stream")) co_return status;
    parser.body_limit(boost::none);
    mcp::SseParser sse(settings_.max_response_bytes);
    auto on_event = [&](mcp::SseEvent& ev) {
      if (ev.data.empty()) return true;
      auto msg = mcp::parse_json(ev.data);
      if (!msg) return true;
      if (mcp::classify(*msg) == mcp::MessageKind::request) {
        if ((*msg)["method"] == "ping")
          send_in_background(mcp::make_result((*msg)["id"], json::object()));
        else
          send_in_background(mcp::make_error((*msg)["id"], mcp::kMethodNotFound, "not on this stream"));
      } else if (mcp::classify(*msg) == mcp::MessageKind::notification && server_handler_) {
        server_handler_(*msg);
      }
      return true;
    };
    while (!closed_ && !parser.is_done()) {
      if (co_await conn.read_some(parser, Clock::now() + kStandaloneQuiet)) break;
      sse.feed(parser.get().body(), on_event);
      parser.get().body().clear();
      if (sse.failed()) break;
    }
    co_return status;
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
      if (options.on_request)
        return options.on_request(msg, [self = shared_from_this()](json reply) {
          if (self->alive_) self->send_in_background(std::move(reply));
        });
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
        [self, text = dump_json(message)]() -> asio::awaitable<void> {
          const RpcOptions options{.deadline = Clock::now() + kBackgroundTimeout};
          Pending p{json(), options.deadline, options};
          Outgoing message{text};
          auto r = co_await self->post(std::move(message), p);
          if (!r) log::debug("upstream_send_failed", {{"error", r.error().message}});
        },
        asio::detached);
  }

  static std::optional<json> parse_message(std::string_view text, const Pending& p) {
    return p.options.tool_output_as_text ? mcp::parse_tool_response(text) : mcp::parse_json(text);
  }

  // The response to `id` in `body`, moved out of it; `body` is unchanged when there is none.
  static std::optional<json> find_response(json& body, const json& id) {
    if (id.is_null()) return std::nullopt;
    auto matches = [&](const json& m) {
      auto kind = mcp::classify(m);
      return (kind == mcp::MessageKind::result || kind == mcp::MessageKind::error) && m["id"] == id;
    };
    if (body.is_array()) {
      for (auto& m : body)
        if (matches(m)) return std::move(m);
      return std::nullopt;
    }
    if (matches(body)) return std::move(body);
    return std::nullopt;
  }

  // `unanswered`: a reused connection ended before any byte of the answer. That is the
  // connection's end (the server closed it as we reused it), not the session's.
  Error read_failure(const boost::system::error_code& ec, const char* where, bool unanswered = false) {
    // The sidecar itself cut the exchange at the end of the shutdown grace period: the session
    // is fine and will be closed with DELETE.
    if (pool_.aborted()) return make_error(ErrorCode::cancelled, "the sidecar is shutting down");
    if (is_timeout(ec))
      return make_error(ErrorCode::timeout, std::string("call timed out waiting for the upstream ") + where);
    if (ec == bhttp::error::body_limit)
      return make_error(ErrorCode::upstream_protocol, "upstream response exceeds the size limit");
    if (unanswered)
      return make_error(ErrorCode::unavailable, "upstream closed a kept-alive connection before answering");
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
    const int rpc_code = rpc_error ? mcp::error_code_of(*rpc_error) : 0;
    Error e = refusal(rpc_code, rpc_error, status, code);
    if (status == 400 || status == 404 || status == 405) {
      // The era test of the backward-compatibility rules: only a recognized modern error in
      // the body shows a 2026-07-28 server; an initialize refused at the HTTP level shows a
      // server that has no sessions (or no Streamable HTTP at all).
      const bool modern =
          mcp::is_modern_error(status, rpc_code) &&
          (rpc_code != mcp::kUnsupportedProtocolVersion || mcp::supports_version(*rpc_error, mcp::kStatelessRevision));
      // And a session-era request refused with a modern error: the server became modern.
      const bool became_modern = !stateless_ && mcp::is_modern_error(status, rpc_code) && status == 400;
      if ((stateless_ && !modern) || info_.protocol_version.empty() || became_modern) {
        era_contradicted_ = true;
        lose("era_changed");
        if (e.code == ErrorCode::upstream_rpc_error || e.code == ErrorCode::upstream_protocol) {
          e.code = ErrorCode::upstream_protocol;
          e.message = "upstream does not speak this MCP revision " + code;
        }
        e.not_delivered = true;  // refused before it was run
      }
    }
    co_return e;
  }

  // How a refusal reads to the caller: the 2026-07-28 errors say what the sidecar should know.
  static Error refusal(int rpc_code, const std::optional<json>& rpc_error, unsigned status, const std::string& code) {
    // A 5xx is a server (or a proxy, such as the inbound gate) that could not answer, whatever
    // its body says: unavailable, resent as a lost connection would be.
    if (status >= 500) return make_error(ErrorCode::unavailable, "upstream failed " + code);
    if (rpc_error) {
      if (rpc_code == mcp::kUnsupportedProtocolVersion)
        return Error{ErrorCode::upstream_version_unsupported,
                     "upstream supports none of the sidecar's protocol versions " + code, *rpc_error};
      if (rpc_code == mcp::kHeaderMismatch)
        return Error{ErrorCode::upstream_header_mismatch,
                     "upstream found the request headers disagreeing with the body " + code, *rpc_error};
      if (rpc_code == mcp::kMissingRequiredClientCapability)
        return Error{ErrorCode::upstream_capability_required,
                     "upstream requires a client capability the caller did not declare " + code, *rpc_error};
      return Error{ErrorCode::upstream_rpc_error, "upstream refused the request " + code, *rpc_error};
    }
    return make_error(ErrorCode::upstream_protocol, "upstream answered " + code);
  }

  http::ConnectionPool& pool_;
  const TransportSettings& settings_;
  const bool stateless_;
  const std::string user_agent_ = "mcp-sidecar/" + settings_.client_version;
  SessionInfo info_;
  std::int64_t next_id_ = 1;
  bool alive_ = true;
  bool closed_ = false;
  int exchanges_ = 0;  // in flight
  Notifier quiet_;     // the last exchange in flight ended
  std::function<void(const json&)> server_handler_;
  http::ClientConnection* standalone_ = nullptr;  // the GET stream's connection while it is open
  bool era_contradicted_ = false;
  std::string failure_reason_;
};

}  // namespace

std::shared_ptr<UpstreamSession> make_streamable_http_session(http::ConnectionPool& pool,
                                                              const TransportSettings& settings, Era era) {
  return std::make_shared<StreamableHttpSession>(pool, settings, era);
}

std::shared_ptr<UpstreamSession> make_session(http::ConnectionPool& pool, const TransportSettings& settings, Era era) {
  if (era == Era::legacy_sse) return make_legacy_sse_session(pool, settings);
  return make_streamable_http_session(pool, settings, era);
}

std::string_view era_name(Era era) {
  switch (era) {
    case Era::stateless:
      return "stateless";
    case Era::sessions:
      return "streamable-http";
    case Era::legacy_sse:
      return "sse";
  }
  return "unknown";
}

}  // namespace mcp_sidecar::outbound

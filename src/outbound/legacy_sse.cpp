// Upstream sessions over the HTTP+SSE transport of MCP 2024-11-05: the session is a long-lived
// GET event stream; its first event, `endpoint`, names the URL the client POSTs messages to; the
// server answers each POST with 202 and sends the JSON-RPC response on the stream, where it is
// matched to its waiting caller by id. The stream's loss ends the session (the pool evicts it).
#include "core/json_write.hpp"
#include "mcp/json_parse.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/protocol.hpp"
#include "mcp/sse.hpp"
#include "outbound/transports.hpp"
#include "outbound/wire.hpp"
#include "telemetry/log.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/beast/core/error.hpp>

#include <unordered_map>

namespace mcp_sidecar::outbound {

namespace bhttp = boost::beast::http;

namespace {

using wire::kBackgroundTimeout;
using wire::kErrorBodyLimit;
// A read on the event stream is renewed this often; liveness is the heartbeat's job.
constexpr auto kStreamReadWindow = std::chrono::hours(1);

Error not_delivered(ErrorCode code, std::string message) {
  return wire::transport_error(code, std::move(message), true);
}

class LegacySseSession final : public UpstreamSession, public std::enable_shared_from_this<LegacySseSession> {
 public:
  LegacySseSession(http::ConnectionPool& pool, const TransportSettings& settings)
      : pool_(pool), settings_(settings), pump_done_(pool.executor()) {
    info_.era = Era::legacy_sse;
  }

  asio::awaitable<Result<void>> open(TimePoint deadline) override {
    auto opened = co_await handshake(deadline);
    if (!opened) {
      closed_ = true;  // a half-open session must not keep its stream
      alive_ = false;
      if (stream_) (*stream_)->close();
    }
    co_return opened;
  }

  asio::awaitable<Result<json>> request(std::string_view method, const json& params,
                                        const RpcOptions& options) override {
    if (!alive_) co_return not_delivered(ErrorCode::unavailable, "upstream event stream is closed");
    const std::int64_t id = next_id_++;
    Waiter w{options, options.deadline, Notifier(pool_.executor())};
    if (params.is_object() && params.contains("_meta") && params["_meta"].is_object())
      w.progress_token = params["_meta"].value("progressToken", json());
    waiters_.emplace(id, &w);
    struct Unregister {
      LegacySseSession* s;
      std::int64_t id;
      ~Unregister() { s->waiters_.erase(id); }
    } unregister{this, id};

    if (options.cancel && options.cancel->requested())
      co_return make_error(ErrorCode::cancelled, "the caller cancelled the request");
    auto sent =
        co_await post(mcp::make_request(id, method, params), options.deadline, options.case_id, options.idempotent);
    if (!sent) co_return std::move(sent).error();
    bool cancelled = false;
    if (options.cancel) {
      options.cancel->arm([&] {
        cancelled = true;
        w.arrived.notify_all();
      });
    }
    while (!w.reply && !w.failure && !cancelled && Clock::now() < w.deadline) co_await w.arrived.wait_until(w.deadline);
    if (options.cancel) options.cancel->disarm();
    if (w.reply) co_return std::move(*w.reply);
    if (w.failure) co_return std::move(*w.failure);
    if (alive_ && !pool_.aborted()) {
      json cancel = {{"requestId", id}, {"reason", cancelled ? "cancelled by the client" : "timeout"}};
      send_in_background(mcp::make_notification("notifications/cancelled", std::move(cancel)));
    }
    if (cancelled) co_return make_error(ErrorCode::cancelled, "the caller cancelled the request");
    co_return make_error(ErrorCode::timeout, "call timed out waiting for the upstream's response event");
  }

  asio::awaitable<Result<void>> notify(std::string_view method, const json& params, TimePoint deadline) override {
    auto r = co_await post(mcp::make_notification(method, params), deadline, std::string_view(), true);
    if (!r) co_return std::move(r).error();
    co_return Result<void>{};
  }

  // Closing the event stream ends an HTTP+SSE session.
  asio::awaitable<void> close(TimePoint deadline) override {
    closed_ = true;
    if (stream_) (*stream_)->close();
    while (pumping_ && Clock::now() < deadline) co_await pump_done_.wait_until(deadline);
  }

  bool alive() const override { return alive_; }
  std::string_view failure_reason() const override { return failure_reason_; }
  const SessionInfo& info() const override { return info_; }
  bool era_contradicted() const override { return era_contradicted_; }
  void on_lost(std::function<void()> callback) override { on_lost_ = std::move(callback); }
  void on_server_message(std::function<void(const json&)> handler) override { server_handler_ = std::move(handler); }

 private:
  struct Waiter {
    const RpcOptions& options;
    TimePoint deadline;  // may move on progress
    Notifier arrived;
    json progress_token;
    std::optional<json> reply;
    std::optional<Error> failure;
  };

  // The event stream, its endpoint, then initialize over it.
  asio::awaitable<Result<void>> handshake(TimePoint deadline) {
    if (auto r = co_await open_stream(deadline); !r) co_return r;
    pumping_ = true;
    asio::co_spawn(
        pool_.executor(), [self = shared_from_this()] { return self->pump(); }, asio::detached);

    const RpcOptions options{.deadline = deadline, .idempotent = true};
    auto reply = co_await request("initialize", wire::initialize_params(settings_), options);
    if (!reply) co_return std::move(reply).error();
    if (auto applied = wire::apply_initialize(reply.value(), info_, true); !applied) co_return applied;
    co_return co_await notify("notifications/initialized", json(), deadline);
  }

  http::ClientRequest build(bhttp::verb verb, std::string target, std::string body, std::string_view case_id) const {
    http::ClientRequest req{verb, target, 11};
    req.set(bhttp::field::host, pool_.url().host_header);
    req.set(bhttp::field::user_agent, "mcp-sidecar/" + settings_.client_version);
    if (verb == bhttp::verb::post) {
      req.set(bhttp::field::content_type, "application/json");
    } else {
      req.set(bhttp::field::accept, "text/event-stream");
      req.set(bhttp::field::cache_control, "no-cache");
    }
    if (!settings_.authorization.empty()) req.set(bhttp::field::authorization, settings_.authorization);
    if (!case_id.empty()) req.set(settings_.case_id_header, case_id);
    req.body() = std::move(body);
    req.prepare_payload();
    return req;
  }

  // GET the event stream and wait for its `endpoint` event.
  asio::awaitable<Result<void>> open_stream(TimePoint deadline) {
    auto lease = co_await pool_.acquire(deadline);
    if (!lease) co_return std::move(lease).error();
    stream_.emplace(std::move(lease).value());
    auto& conn = **stream_;
    auto req = build(bhttp::verb::get, pool_.url().target, {}, {});
    if (auto ec = co_await conn.write(req, deadline))
      co_return not_delivered(ErrorCode::unavailable, "upstream connection failed opening the event stream");
    parser_.header_limit(64 << 10);
    parser_.body_limit(boost::none);  // a stream is bounded per event, not in total
    if (auto ec = co_await conn.read_header(parser_, deadline))
      co_return make_error(ec == boost::beast::error::timeout ? ErrorCode::timeout : ErrorCode::unavailable,
                           "upstream did not open the event stream");
    const unsigned status = parser_.get().result_int();
    const std::string code = "(HTTP " + std::to_string(status) + ")";
    if (status == 401 || status == 403)
      co_return make_error(ErrorCode::upstream_protocol, "upstream refused the sidecar's credentials " + code);
    if (status != 200 || !parser_.get()[bhttp::field::content_type].starts_with("text/event-stream")) {
      // Not an HTTP+SSE endpoint (any more): what detection looks for.
      if (status == 200 || status == 400 || status == 404 || status == 405) era_contradicted_ = true;
      co_return make_error(status >= 500 ? ErrorCode::unavailable : ErrorCode::upstream_protocol,
                           "upstream did not open an event stream " + code);
    }
    std::optional<std::string> endpoint;
    bool bad_endpoint = false;
    auto on_event = [&](mcp::SseEvent& ev) {
      if (ev.type != "endpoint") return true;
      endpoint = http::same_origin_target(pool_.url(), ev.data);
      bad_endpoint = !endpoint;
      return false;
    };
    while (!endpoint && !bad_endpoint) {
      if (auto ec = co_await conn.read_some(parser_, deadline))
        co_return make_error(ec == boost::beast::error::timeout ? ErrorCode::timeout : ErrorCode::unavailable,
                             "upstream event stream ended before its endpoint event");
      sse_.feed(parser_.get().body(), on_event);
      parser_.get().body().clear();
      if (sse_.failed()) co_return make_error(ErrorCode::upstream_protocol, "upstream event exceeds the size limit");
    }
    if (bad_endpoint)
      co_return make_error(ErrorCode::upstream_protocol, "upstream announced an endpoint off its own origin");
    endpoint_ = std::move(*endpoint);
    co_return Result<void>{};
  }

  // Reads the event stream for the session's life, delivering what arrives to its waiters.
  asio::awaitable<void> pump() {
    auto on_event = [this](mcp::SseEvent& ev) {
      if (ev.type != "message" || ev.data.empty()) return true;
      auto msg = mcp::parse_json(ev.data);
      if (!msg) {
        log::debug("upstream_bad_event", {{"transport", "sse"}});
        return true;
      }
      deliver(*msg);
      return true;
    };
    std::string reason = "transport";
    // What `endpoint` read past (a response can follow it in the same packet).
    sse_.feed({}, on_event);
    for (;;) {
      if (parser_.is_done()) break;
      if (auto ec = co_await (*stream_)->read_some(parser_, Clock::now() + kStreamReadWindow)) {
        // Closed by us, by the server, or quiet for a whole read window (which the heartbeat's
        // pings prevent): in every case the session is over.
        break;
      }
      sse_.feed(parser_.get().body(), on_event);
      parser_.get().body().clear();
      if (sse_.failed()) {
        reason = "oversized_event";
        break;
      }
    }
    if (!closed_) lose(pool_.aborted() ? "shutdown" : reason);
    alive_ = false;
    for (auto& [id, w] : waiters_) {
      w->failure = pool_.aborted()
                       ? make_error(ErrorCode::cancelled, "the sidecar is shutting down")
                       : make_error(ErrorCode::unavailable, "upstream event stream closed before the response");
      w->arrived.notify_all();
    }
    stream_.reset();
    pumping_ = false;
    pump_done_.notify_all();
    if (!closed_ && !pool_.aborted() && on_lost_) std::exchange(on_lost_, nullptr)();
  }

  void deliver(const json& msg) {
    if (msg.is_array()) {
      for (const auto& m : msg) deliver(m);
      return;
    }
    switch (mcp::classify(msg)) {
      case mcp::MessageKind::result:
      case mcp::MessageKind::error: {
        if (!msg["id"].is_number_integer()) return;
        auto it = waiters_.find(msg["id"].get<std::int64_t>());
        if (it == waiters_.end()) return;  // answered after its caller gave up
        it->second->reply = msg;
        it->second->arrived.notify_all();
        return;
      }
      case mcp::MessageKind::request: {
        if (msg["method"] == "ping") return send_in_background(mcp::make_result(msg["id"], json::object()));
        // HTTP+SSE does not say which request a server request belongs to: it is passed on only
        // when one request is in flight on this session and its caller can answer it.
        if (waiters_.size() == 1 && waiters_.begin()->second->options.on_request)
          return waiters_.begin()->second->options.on_request(msg, [self = shared_from_this()](json reply) {
            if (self->alive_) self->send_in_background(std::move(reply));
          });
        return send_in_background(
            mcp::make_error(msg["id"], mcp::kMethodNotFound, "the sidecar's client declared no such capability"));
      }
      case mcp::MessageKind::notification:
        if (msg["method"] == "notifications/progress") return progress(msg);
        if (server_handler_ && msg["method"] == "notifications/resources/updated") return server_handler_(msg);
        // Other notifications (logging) belong to a request only when it is the one in flight.
        if (waiters_.size() == 1 && waiters_.begin()->second->options.on_message)
          waiters_.begin()->second->options.on_message(msg);
        return;
      case mcp::MessageKind::invalid:
        return;
    }
  }

  // Progress belongs to the call whose progressToken it names.
  void progress(const json& msg) {
    const json& params = msg.contains("params") ? msg["params"] : json();
    if (!params.is_object() || !params.contains("progressToken")) return;
    for (auto& [id, w] : waiters_) {
      if (w->progress_token != params["progressToken"]) continue;
      const auto& options = w->options;
      if (options.progress_extension.count() > 0)
        w->deadline = std::min(Clock::now() + options.progress_extension, options.max_deadline);
      if (options.on_message) options.on_message(msg);
      return;
    }
  }

  // POSTs one message to the announced endpoint; the server acknowledges it with 202. Sent
  // once more on a fresh connection when a reused one dies under it before it provably arrived
  // (the write failed), or, when `repeatable`, before any byte of the acknowledgement (as
  // streamable_http.cpp does, RFC 9112 9.3.1).
  asio::awaitable<Result<void>> post(json message, TimePoint deadline, std::string_view case_id, bool repeatable) {
    auto req = build(bhttp::verb::post, endpoint_, dump_json(message), case_id);
    for (bool fresh = false;; fresh = true) {
      auto lease = co_await pool_.acquire(deadline, fresh);
      if (!lease) co_return std::move(lease).error();
      auto& conn = *lease.value();
      const bool may_resend = lease->reused() && !fresh;
      if (auto ec = co_await conn.write(req, deadline)) {
        if (pool_.aborted()) co_return make_error(ErrorCode::cancelled, "the sidecar is shutting down");
        const bool timeout = ec == boost::beast::error::timeout;
        if (!timeout && may_resend) continue;
        co_return not_delivered(timeout ? ErrorCode::timeout : ErrorCode::unavailable,
                                "upstream connection failed sending the request");
      }
      http::ResponseParser parser;
      parser.header_limit(64 << 10);
      parser.body_limit(kErrorBodyLimit);
      if (auto ec = co_await conn.read_header(parser, deadline)) {
        if (may_resend && repeatable && !conn.response_started() && ec != boost::beast::error::timeout &&
            !pool_.aborted())
          continue;
        co_return post_failure(ec);
      }
      if (auto ec = co_await conn.read_rest(parser, deadline)) co_return post_failure(ec);
      conn.reusable = parser.keep_alive();
      co_return accepted(parser.get().result_int());
    }
  }

  // What the status of a POST's acknowledgement means.
  Result<void> accepted(unsigned status) {
    if (status == 200 || status == 202) return Result<void>{};
    const std::string code = "(HTTP " + std::to_string(status) + ")";
    if (status == 404) {
      // The server no longer knows this session: it did not run the message.
      lose("session_gone");
      return not_delivered(ErrorCode::unavailable, "upstream session expired " + code);
    }
    if (status == 401 || status == 403)
      return make_error(ErrorCode::upstream_protocol, "upstream refused the sidecar's credentials " + code);
    if (status >= 500) return make_error(ErrorCode::unavailable, "upstream failed " + code);
    return make_error(ErrorCode::upstream_protocol, "upstream refused the message " + code);
  }

  Error post_failure(const boost::system::error_code& ec) {
    if (pool_.aborted()) return make_error(ErrorCode::cancelled, "the sidecar is shutting down");
    if (ec == boost::beast::error::timeout)
      return make_error(ErrorCode::timeout, "call timed out waiting for the upstream to accept the request");
    return make_error(ErrorCode::unavailable, "upstream connection lost accepting the request");
  }

  void send_in_background(json message) {
    asio::co_spawn(
        pool_.executor(),
        [self = shared_from_this(), message = std::move(message)]() -> asio::awaitable<void> {
          auto r = co_await self->post(message, Clock::now() + kBackgroundTimeout, std::string_view(), true);
          if (!r) log::debug("upstream_send_failed", {{"error", r.error().message}});
        },
        asio::detached);
  }

  void lose(std::string reason) {
    alive_ = false;
    if (failure_reason_.empty()) failure_reason_ = std::move(reason);
  }

  http::ConnectionPool& pool_;
  const TransportSettings& settings_;
  SessionInfo info_;
  std::optional<http::ConnectionPool::Lease> stream_;
  http::ResponseParser parser_;
  mcp::SseParser sse_{settings_.max_response_bytes};
  std::string endpoint_;
  std::unordered_map<std::int64_t, Waiter*> waiters_;
  std::int64_t next_id_ = 1;
  bool alive_ = true;
  bool closed_ = false;
  bool pumping_ = false;
  bool era_contradicted_ = false;
  Notifier pump_done_;
  std::function<void(const json&)> server_handler_;
  std::function<void()> on_lost_;
  std::string failure_reason_;
};

}  // namespace

std::shared_ptr<UpstreamSession> make_legacy_sse_session(http::ConnectionPool& pool,
                                                         const TransportSettings& settings) {
  return std::make_shared<LegacySseSession>(pool, settings);
}

}  // namespace mcp_sidecar::outbound

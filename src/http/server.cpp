#include "http/server.hpp"

#include "core/json_write.hpp"
#include "http/send_now.hpp"
#include "http/tls_stream.hpp"
#include "http/wire.hpp"

#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"
#include "tls/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <unordered_set>

namespace mcp_sidecar::http {

namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

Response make_response(unsigned status, std::string body, std::string_view content_type, unsigned version) {
  Response res{static_cast<http::status>(status), version};
  res.set(http::field::content_type, content_type);
  res.body() = std::move(body);
  return res;
}

Response make_json_response(unsigned status, const nlohmann::json& body, unsigned version) {
  return make_response(status, dump_json(body, JsonErrors::replace), "application/json", version);
}

namespace {
struct ConnectionBase {
  virtual ~ConnectionBase() = default;
  virtual void close() = 0;
  bool idle = true;
};
}  // namespace

struct Server::State {
  State(asio::any_io_executor e, std::string n, config::ListenerLimits l, Handler h, Metrics& m)
      : ex(e),
        name(std::move(n)),
        limits(l),
        handler(std::move(h)),
        metrics(m),
        acceptor(e),
        closed(e),
        open_gauge(m.connections.Add({{"listener", name}})) {}

  prometheus::Counter& rejection(const char* reason) {
    return metrics.http_rejections_total.Add({{"listener", name}, {"reason", reason}});
  }

  asio::any_io_executor ex;
  std::string name;
  config::ListenerLimits limits;
  Handler handler;
  Metrics& metrics;
  tcp::acceptor acceptor;
  std::unordered_set<ConnectionBase*> connections;
  std::size_t rejecting = 0;  // connections being answered 503 over the limit
  bool draining = false;
  std::uint64_t generation = 0;  // connections accepted before a retire_connections() are older
  Notifier closed;
  prometheus::Gauge& open_gauge;
  log::RateLimited warnings;
  Server::TlsProvider tls;
  bool accept_plaintext = false;  // a TLS listener that also serves plain HTTP (told apart by the first byte)
  std::size_t sniffing = 0;       // accepted connections whose first byte is awaited
};

namespace {

// What a request-phase read error becomes: a status to answer (0 = just close) and a reason.
std::pair<unsigned, const char*> classify_read_error(const boost::system::error_code& ec) {
  if (ec == http::error::body_limit) return {413, "body_too_large"};
  if (ec == http::error::header_limit) return {431, "headers_too_large"};
  if (ec == beast::error::timeout) return {408, "timeout"};
  if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
      ec == asio::error::operation_aborted || ec == http::error::partial_message)
    return {0, nullptr};
  return {400, "bad_request"};
}

constexpr std::size_t kReadSize = 4096;       // per read while a request head arrives
constexpr std::size_t kBodyReadSize = 65536;  // per read while a request body arrives

template <class Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

template <class Stream>
class Connection final : public ConnectionBase,
                         public Exchange,
                         public std::enable_shared_from_this<Connection<Stream>> {
 public:
  Connection(std::shared_ptr<Server::State> state, Stream stream, tcp::endpoint remote)
      : state_(std::move(state)), stream_(std::move(stream)), deadline_(state_->ex) {
    peer_.remote = std::move(remote);
    peer_.tls = kIsTls<Stream>;
    generation_ = state_->generation;
  }

  // Whether this connection may carry another request after the current one.
  bool keep_open() const { return keep_alive_ && !state_->draining && generation_ == state_->generation; }

  asio::awaitable<void> run() {
    state_->connections.insert(this);
    state_->open_gauge.Increment();
    try {
      if constexpr (kIsTls<Stream>) {
        if (co_await handshake()) co_await serve();
      } else {
        co_await serve();
      }
    } catch (const std::exception& e) {
      log::error("connection_failed", {{"listener", state_->name}, {"error", e.what()}});
    }
    stop_watching();
    disarm_request_deadline();
    if (unread_) co_await drain_unread();
    boost::system::error_code ignored;
    // As on the client side: no close_notify, but the session stays good for resumption.
    if constexpr (kIsTls<Stream>) SSL_set_shutdown(stream_.native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(stream_).close();
    state_->connections.erase(this);
    state_->open_gauge.Decrement();
    if (state_->connections.empty()) state_->closed.notify_all();
  }

  void close() override { beast::get_lowest_layer(stream_).close(); }

  const tcp::endpoint& remote() const override { return peer_.remote; }
  const Peer& peer() const override { return peer_; }
  bool responded() const override { return responded_; }

  asio::awaitable<bool> respond(Response res) override {
    stop_watching();
    responded_ = true;
    res.keep_alive(keep_open());
    keep_alive_ = res.keep_alive();
    res.prepare_payload();
    // The fields GET would get, without the content (RFC 9110 9.3.2): bytes after the head of an
    // answer to HEAD would be read as the next response.
    if (head_request_) res.body().clear();
    boost::system::error_code ec;
    if (res.chunked() && !head_request_) {
      lowest().expires_after(state_->limits.request_timeout);
      auto [wec, wn] = co_await http::async_write(stream_, res, use_tuple);
      ec = wec;
    } else {
      const std::string wire = serialize(res);  // one buffer: see http/wire.hpp
      std::string_view rest = wire;
      if (!send_whole(stream_, rest, ec) && !ec) ec = co_await write_rest(rest);
    }
    if (ec) keep_alive_ = false;
    co_return !ec;
  }

  // What send_whole() left of a whole response (what the socket took at once went without an
  // asynchronous write: http/send_now.hpp, http/tls_stream.hpp), within request_timeout.
  asio::awaitable<boost::system::error_code> write_rest(std::string_view wire) {
    lowest().expires_after(state_->limits.request_timeout);
    return send_rest(stream_, wire);
  }

  asio::awaitable<bool> respond(unsigned status, std::string_view content_type, std::string_view body,
                                const Fields& fields) override {
    stop_watching();
    responded_ = true;
    keep_alive_ = keep_open();
    // The fields in the order respond(Response) writes them: Connection as Beast's keep_alive()
    // sets it (close in HTTP/1.1, keep-alive in HTTP/1.0), then Content-Length.
    auto message = WireMessage::response(status, version_);
    message.field("Content-Type", content_type);
    for (const auto& [name, value] : fields) message.field(name, value);
    if (version_ == 10 && keep_alive_) message.field("Connection", "keep-alive");
    if (version_ != 10 && !keep_alive_) message.field("Connection", "close");
    const std::string wire = std::move(message).finish(body, !head_request_);
    std::string_view rest = wire;
    boost::system::error_code ec;
    if (!send_whole(stream_, rest, ec) && !ec) ec = co_await write_rest(rest);
    if (ec) keep_alive_ = false;
    co_return !ec;
  }

  asio::awaitable<bool> begin_stream(StreamHead head) override {
    responded_ = true;
    head.keep_alive(keep_open());
    keep_alive_ = head.keep_alive();
    head.chunked(true);
    http::response_serializer<http::empty_body> sr{head};
    lowest().expires_after(state_->limits.request_timeout);
    auto [ec, n] = co_await http::async_write_header(stream_, sr, use_tuple);
    if (ec) keep_alive_ = false;
    co_return !ec;
  }

  asio::awaitable<bool> write_chunk(std::string_view data) override {
    if (data.empty() || head_request_) co_return true;  // an empty chunk would end the body; HEAD has none
    lowest().expires_after(state_->limits.request_timeout);
    auto [ec, n] =
        co_await asio::async_write(stream_, http::make_chunk(asio::buffer(data.data(), data.size())), use_tuple);
    if (ec) keep_alive_ = false;
    co_return !ec;
  }

  asio::awaitable<bool> end_stream() override {
    stop_watching();
    if (head_request_) co_return true;
    lowest().expires_after(state_->limits.request_timeout);
    auto [ec, n] = co_await asio::async_write(stream_, http::make_chunk_last(), use_tuple);
    if (ec) keep_alive_ = false;
    co_return !ec;
  }

  void watch_client(std::function<void()> callback) override {
    stop_watching();
    watching_ = std::make_shared<bool>(true);
    // The socket turns readable while an answer is pending only when the client sent something:
    // with nothing to read, that is its FIN or a reset. A plain handler: no coroutine per call.
    auto seen = [this, watching = watching_, callback = std::move(callback)](boost::system::error_code ec) {
      if (!*watching) return;  // the answer went out (or the connection ended), and `this` may be gone
      *watching = false;
      boost::system::error_code available_ec;
      if (!ec && lowest().socket().available(available_ec) > 0 && !available_ec) return;
      callback();
    };
    lowest().socket().async_wait(tcp::socket::wait_read, std::move(seen));
  }

 private:
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void stop_watching() {
    if (!watching_ || !*watching_) return;
    *watching_ = false;
    boost::system::error_code ignored;
    lowest().socket().cancel(ignored);
  }

  // TLS handshake within request_timeout; refusals are counted by reason
  // (mcp_sidecar_tls_handshakes_total) and the verified client identity is kept.
  asio::awaitable<bool> handshake() {
    SSL* ssl = stream_.native_handle();
    tls::remember_verify_errors(ssl);
    lowest().expires_after(state_->limits.request_timeout);
    auto ec = co_await stream_.handshake(TlsStream::Role::server);
    if (ec) {
      tls::Refusal why = tls::Refusal::handshake;
      if (long verify = tls::first_verify_error(ssl); verify != X509_V_OK)
        why = tls::classify_verify_result(verify);
      else if (ec.category() == asio::error::get_ssl_category() &&
               ERR_GET_REASON(ec.value()) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE)
        why = tls::Refusal::no_certificate;
      handshake_outcome(tls::to_string(why));
      if (why != tls::Refusal::handshake)
        state_->warnings.warn("tls:" + state_->name + ":" + std::string(tls::to_string(why)), "tls_refused",
                              {{"listener", state_->name}, {"reason", tls::to_string(why)}});
      co_return false;
    }
    if (X509* cert = SSL_get0_peer_certificate(ssl); cert && SSL_get_verify_result(ssl) == X509_V_OK)
      peer_.identity = tls::identity_of(cert);
    handshake_outcome(SSL_session_reused(ssl) ? "resumed" : "ok");
    co_return true;
  }

  void handshake_outcome(std::string_view outcome) {
    state_->metrics.tls_handshakes_total.Add({{"listener", state_->name}, {"outcome", std::string(outcome)}})
        .Increment();
  }

  asio::awaitable<void> serve() {
    const auto& limits = state_->limits;
    for (;;) {
      // Idle: wait for the first byte of the next request (closed at once when draining).
      idle = true;
      if (state_->draining || generation_ != state_->generation) co_return;
      if (buffer_.size() == 0) {
        lowest().expires_after(limits.idle_timeout);
        auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kReadSize), use_tuple);
        if (ec) co_return;
        buffer_.commit(n);
      }
      idle = false;

      // Request: head and body within request_timeout, under the limits.
      head_request_ = false;
      lowest().expires_never();
      start_request_deadline();
      RequestParser parser;
      parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
      parser.body_limit(limits.max_body_bytes);
      auto ec = co_await read_head(parser);
      if (ec) co_return co_await reject(ec);
      const auto& head = parser.get();
      head_request_ = head.method() == http::verb::head;
      if (auto problem = head_problem(head); !problem.empty())
        co_return co_await reject_with(400, "bad_request", std::string(problem));
      if (auto cl = parser.content_length(); cl && *cl > limits.max_body_bytes)
        co_return co_await reject_with(413, "body_too_large", "request body too large");
      if (beast::iequals(head[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, head.version()};
        arm_request_deadline();
        auto [wec, wn] = co_await http::async_write(stream_, cont, use_tuple);
        if (wec) co_return;
      }
      if (!parser.is_done()) {
        if (auto bec = co_await read_body(parser)) co_return co_await reject(bec);
      }
      disarm_request_deadline();

      Request req = parser.release();
      keep_alive_ = req.keep_alive();
      responded_ = false;
      version_ = req.version();
      try {
        co_await state_->handler(req, *this);
      } catch (const std::exception& e) {
        log::error("handler_failed", {{"listener", state_->name}, {"error", e.what()}});
        keep_alive_ = false;
      }
      if (!responded_) {
        keep_alive_ = false;
        Error internal{ErrorCode::internal, "internal error"};
        co_await respond(make_json_response(500, error_body(internal), version_));
      }
      if (!keep_alive_) co_return;
    }
  }

  // Reads the request head into `parser`, counting every byte of it against max_header_bytes:
  // Beast's header_limit bounds what one parse call sees, not the sum over the reads a head
  // arrives in (the first of which is the idle read).
  asio::awaitable<boost::system::error_code> read_head(RequestParser& parser) {
    const std::size_t limit = state_->limits.max_header_bytes;
    std::size_t parsed = 0;
    for (;;) {
      boost::system::error_code ec = http::error::need_more;
      if (buffer_.size() > 0) {
        const std::size_t used = parser.put(buffer_.data(), ec);
        buffer_.consume(used);
        parsed += used;
      }
      if (parsed > limit) co_return http::error::header_limit;
      if (ec != http::error::need_more) co_return ec;  // the whole head, or a malformed one
      // The head goes on past every byte buffered so far.
      if (parsed + buffer_.size() >= limit) co_return http::error::header_limit;
      if (timed_out_) co_return beast::error::timeout;  // expired between two reads
      arm_request_deadline();
      auto [rec, n] = co_await stream_.async_read_some(buffer_.prepare(kReadSize), use_tuple);
      if (rec) co_return rec;
      buffer_.commit(n);
    }
  }

  // Reads the rest of the body into `parser`, which holds it against max_body_bytes. The request
  // deadline cuts a read in progress (operation_aborted) or is seen before the next one.
  asio::awaitable<boost::system::error_code> read_body(RequestParser& parser) {
    parser.eager(true);
    for (;;) {
      boost::system::error_code ec;
      if (buffer_.size() > 0) {
        buffer_.consume(parser.put(buffer_.data(), ec));
        if (ec && ec != http::error::need_more) co_return ec;
        if (parser.is_done()) co_return boost::system::error_code{};
      }
      if (timed_out_) co_return beast::error::timeout;
      arm_request_deadline();
      auto [rec, n] = co_await stream_.async_read_some(buffer_.prepare(kBodyReadSize), use_tuple);
      if (rec == asio::error::eof) co_return http::error::partial_message;  // ended inside the body
      if (rec) co_return rec;
      buffer_.commit(n);
    }
  }

  // The request deadline is a timer of our own: the stream's own deadline closes the socket,
  // and a client whose request was cut short is owed a 408 first. Expiry sets timed_out_ and
  // cancels the read in progress (it fails with operation_aborted, and the socket stays open
  // for the 408). A read that had just completed is not cancelled: read_head() checks
  // timed_out_ before it reads again, and any other read meets the stream's deadline, set to
  // now, which closes. The deadline runs from the request's first byte, but its timer is set
  // only before a read (or write) that waits: most requests arrive whole with that byte, and a
  // timer set and cancelled costs more than the rest of reading them (issue 9).
  void start_request_deadline() {
    timed_out_ = false;
    request_deadline_ = asio::steady_timer::clock_type::now() + state_->limits.request_timeout;
  }

  void arm_request_deadline() {
    if (deadline_armed_) return;
    deadline_armed_ = true;
    deadline_.expires_at(request_deadline_);
    deadline_.async_wait([weak = this->weak_from_this()](const boost::system::error_code&) {
      auto self = weak.lock();
      // Disarmed (or re-armed) after this handler was queued: not ours to act on.
      if (!self || self->deadline_.expiry() > asio::steady_timer::clock_type::now()) return;
      self->timed_out_ = true;
      self->lowest().cancel();
      self->lowest().expires_after(std::chrono::seconds(0));  // applies to operations not in progress
    });
  }

  void disarm_request_deadline() {
    if (!deadline_armed_) return;
    deadline_armed_ = false;
    deadline_.expires_at(asio::steady_timer::time_point::max());
  }

  asio::awaitable<void> reject(boost::system::error_code ec) {
    if (timed_out_) ec = beast::error::timeout;
    auto [status, reason] = classify_read_error(ec);
    if (status == 0) co_return;
    std::string message = status == 413   ? "request body too large"
                          : status == 431 ? "request headers too large"
                          : status == 408 ? "request not received in time"
                                          : "malformed HTTP request";
    co_await reject_with(status, reason, message);
  }

  asio::awaitable<void> reject_with(unsigned status, const char* reason, std::string message) {
    disarm_request_deadline();  // the refusal is written under the write deadline
    state_->rejection(reason).Increment();
    unread_ = true;
    ErrorCode code = status == 413   ? ErrorCode::payload_too_large
                     : status == 431 ? ErrorCode::headers_too_large
                                     : ErrorCode::bad_request;
    keep_alive_ = false;
    Error error{code, std::move(message)};
    co_await respond(make_json_response(status, error_body(error), version_));
  }

  // After a refusal the client may still be sending the request (a body over the limit): closing
  // at once would answer its next segment with a reset, and a reset makes the client's kernel
  // drop the refusal it has not read yet. So, as RFC 9112 section 9.6 advises, stop sending, then
  // read and discard until the client is done or kLingerTime has passed, then close.
  asio::awaitable<void> drain_unread() {
    static constexpr auto kLingerTime = std::chrono::seconds(1);
    boost::system::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    lowest().expires_after(kLingerTime);
    std::array<char, 65536> sink;
    for (;;) {
      auto [ec, n] = co_await lowest().async_read_some(asio::buffer(sink), use_tuple);
      if (ec) break;
    }
  }

  std::shared_ptr<Server::State> state_;
  Stream stream_;
  Peer peer_;
  beast::flat_buffer buffer_;
  bool unread_ = false;  // a refused request may still be arriving: linger before closing
  bool keep_alive_ = false;
  std::uint64_t generation_ = 0;
  bool responded_ = false;
  std::shared_ptr<bool> watching_;  // set while watch_client() is active
  unsigned version_ = 11;
  bool head_request_ = false;    // the request being answered is a HEAD: no content goes back
  asio::steady_timer deadline_;  // the request deadline (arm_request_deadline)
  asio::steady_timer::time_point request_deadline_{};
  bool deadline_armed_ = false;  // deadline_ waits for request_deadline_
  bool timed_out_ = false;       // the deadline cut the current request's read
};

// Over the connection limit: a fast 503 with Retry-After, then close.
asio::awaitable<void> refuse(std::shared_ptr<Server::State> state, tcp::socket socket) {
  ++state->rejecting;
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(std::chrono::seconds(1));
  auto res = make_json_response(503, error_body({ErrorCode::overloaded, "too many connections", nullptr, 1}));
  res.set(http::field::retry_after, "1");
  res.keep_alive(false);
  res.prepare_payload();
  co_await http::async_write(stream, res, use_tuple);
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  --state->rejecting;
}

void serve_connection(const std::shared_ptr<Server::State>& state, tcp::socket socket, tcp::endpoint remote, bool tls) {
  if (tls) {
    auto context = state->tls();  // the material current at accept time
    auto conn = std::make_shared<Connection<TlsStream>>(
        state, TlsStream(beast::tcp_stream(std::move(socket)), *context), remote);
    asio::co_spawn(
        state->ex, [conn, context]() -> asio::awaitable<void> { co_await conn->run(); }, asio::detached);
  } else {
    auto conn = std::make_shared<Connection<beast::tcp_stream>>(state, beast::tcp_stream(std::move(socket)), remote);
    asio::co_spawn(
        state->ex, [conn]() -> asio::awaitable<void> { co_await conn->run(); }, asio::detached);
  }
}

// A TLS listener open to plain HTTP too (the bearer -> mTLS upgrade window): a TLS connection
// starts with a handshake record (0x16), an HTTP request with a method's letter. The byte is
// peeked, not read, so either protocol then starts from the first byte. The wait is bounded by
// the request timeout, like the handshake it stands before.
asio::awaitable<void> sniff_and_serve(std::shared_ptr<Server::State> state, tcp::socket socket, tcp::endpoint remote) {
  ++state->sniffing;
  // The timer's handler may run after this frame is gone (queued just as the peek completed):
  // it touches the socket only while `waiting` says the frame still owns it.
  auto waiting = std::make_shared<bool>(true);
  asio::steady_timer timer(state->ex);
  timer.expires_after(state->limits.request_timeout);
  timer.async_wait([waiting, &socket](const boost::system::error_code& ec) {
    boost::system::error_code ignored;
    if (!ec && *waiting) socket.cancel(ignored);
  });
  unsigned char first = 0;
  auto [ec, n] = co_await socket.async_receive(asio::buffer(&first, 1), tcp::socket::message_peek, use_tuple);
  *waiting = false;
  timer.cancel();
  --state->sniffing;
  if (ec || n == 0 || !state->acceptor.is_open()) co_return;  // gone, silent past the timeout, or shutting down
  constexpr unsigned char kTlsHandshakeRecord = 0x16;
  const bool tls = first == kTlsHandshakeRecord;
  if (!tls) state->metrics.plaintext_connections_total.Add({{"listener", state->name}}).Increment();
  serve_connection(state, std::move(socket), std::move(remote), tls);
}

asio::awaitable<void> accept_loop(std::shared_ptr<Server::State> state) {
  for (;;) {
    auto [ec, socket] = co_await state->acceptor.async_accept(use_tuple);
    if (ec == asio::error::operation_aborted || !state->acceptor.is_open()) co_return;
    if (ec) {
      // Out of file descriptors (or similar): counted, logged at a bounded rate, retried shortly.
      state->rejection("accept_error").Increment();
      state->warnings.warn("accept:" + ec.message(), "accept_failed",
                           {{"listener", state->name}, {"error", ec.message()}});
      co_await sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    boost::system::error_code opt_ec;
    socket.set_option(tcp::no_delay(true), opt_ec);
    auto remote = socket.remote_endpoint(opt_ec);
    if (opt_ec) continue;  // the peer is already gone
    if (state->connections.size() + state->sniffing >= static_cast<std::size_t>(state->limits.max_connections)) {
      state->rejection("max_connections").Increment();
      if (state->rejecting < 64) asio::co_spawn(state->ex, refuse(state, std::move(socket)), asio::detached);
      continue;
    }
    if (state->tls && state->accept_plaintext) {
      auto sniff = sniff_and_serve(state, std::move(socket), std::move(remote));
      asio::co_spawn(state->ex, std::move(sniff), asio::detached);
    } else {
      serve_connection(state, std::move(socket), std::move(remote), state->tls != nullptr);
    }
  }
}

}  // namespace

Server::Server(asio::any_io_executor ex, std::string name, config::ListenerLimits limits, Handler handler,
               Metrics& metrics)
    : state_(std::make_shared<State>(ex, std::move(name), limits, std::move(handler), metrics)) {}

Server::~Server() {
  stop_accepting();
  close_all();
}

Result<void> Server::listen(const std::string& host_port) {
  auto hp = config::parse_host_port(host_port);
  if (!hp) return make_error(ErrorCode::bad_request, "invalid listen address " + host_port);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(hp->host == "localhost" ? "127.0.0.1" : hp->host, ec);
  if (ec) return make_error(ErrorCode::bad_request, "listen address must be an IP address: " + host_port);
  tcp::endpoint ep(address, hp->port);
  auto& a = state_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return make_error(ErrorCode::internal, "cannot listen on " + host_port + ": " + ec.message());
  return {};
}

void Server::use_tls(TlsProvider provider, bool accept_plaintext) {
  state_->tls = std::move(provider);
  state_->accept_plaintext = accept_plaintext;
}

void Server::start() { asio::co_spawn(state_->ex, accept_loop(state_), asio::detached); }

asio::ip::tcp::endpoint Server::local_endpoint() const {
  boost::system::error_code ec;
  return state_->acceptor.local_endpoint(ec);
}

void Server::stop_accepting() {
  boost::system::error_code ec;
  state_->acceptor.close(ec);
}

void Server::drain() {
  state_->draining = true;
  // Copy first: closing may not erase synchronously, but stay safe if it ever does.
  std::vector<ConnectionBase*> idle;
  for (auto* c : state_->connections)
    if (c->idle) idle.push_back(c);
  for (auto* c : idle) c->close();
}

void Server::retire_connections() {
  ++state_->generation;
  std::vector<ConnectionBase*> idle;
  for (auto* c : state_->connections)
    if (c->idle) idle.push_back(c);
  for (auto* c : idle) c->close();
}

void Server::close_all() {
  std::vector<ConnectionBase*> all(state_->connections.begin(), state_->connections.end());
  for (auto* c : all) c->close();
}

asio::awaitable<void> Server::wait_closed(TimePoint deadline) {
  while (!state_->connections.empty() && Clock::now() < deadline) co_await state_->closed.wait_until(deadline);
}

std::size_t Server::connections() const { return state_->connections.size(); }

}  // namespace mcp_sidecar::http

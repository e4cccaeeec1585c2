#include "http/client.hpp"

#include "http/send_now.hpp"
#include "http/tls_stream.hpp"
#include "http/wire.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>

#include "tls/tls.hpp"

#include <sys/socket.h>

namespace mcp_sidecar::http {

namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

std::optional<Url> parse_url(std::string_view text) {
  auto r = boost::urls::parse_absolute_uri(text);
  if (!r) return std::nullopt;
  Url u;
  auto scheme = r->scheme();
  if (scheme == "https")
    u.tls = true;
  else if (scheme != "http")
    return std::nullopt;
  if (!r->has_authority() || r->host().empty() || r->has_userinfo()) return std::nullopt;
  u.host = r->host_type() == boost::urls::host_type::ipv6 ? std::string(r->encoded_host_address())
                                                          : std::string(r->encoded_host());
  if (u.host.size() > 2 && u.host.front() == '[') u.host = u.host.substr(1, u.host.size() - 2);
  u.port = r->has_port() ? std::string(r->port()) : (u.tls ? "443" : "80");
  if (u.port.empty()) return std::nullopt;
  u.target = std::string(r->encoded_path());
  if (u.target.empty()) u.target = "/";
  if (r->has_query()) u.target += "?" + std::string(r->encoded_query());
  std::string host = r->host_type() == boost::urls::host_type::ipv6 ? "[" + u.host + "]" : u.host;
  u.host_header = r->has_port() ? host + ":" + u.port : host;
  return u;
}

std::optional<std::string> same_origin_target(const Url& base, std::string_view reference) {
  if (reference.empty() || reference.find_first_of(" \t\r\n") != std::string_view::npos) return std::nullopt;
  if (reference.starts_with("http://") || reference.starts_with("https://")) {
    auto url = parse_url(reference);
    if (!url || url->tls != base.tls || url->host != base.host || url->port != base.port) return std::nullopt;
    return url->target;
  }
  if (reference.starts_with("//") || reference.find(':') < reference.find_first_of("/?#")) return std::nullopt;
  if (reference.front() == '/') return std::string(reference);
  std::string_view path = std::string_view(base.target).substr(0, base.target.find('?'));
  return std::string(path.substr(0, path.rfind('/') + 1)) + std::string(reference);
}

namespace {

template <class Stream>
class BasicClientConnection final : public ClientConnection {
 public:
  explicit BasicClientConnection(Stream stream) : stream_(std::move(stream)) {}

  asio::awaitable<error_code> write(ClientRequest& req, TimePoint deadline) override {
    lowest().expires_at(deadline);
    response_started_ = false;
    if (req.chunked()) {
      auto [ec, n] = co_await bhttp::async_write(stream_, req, use_tuple);
      co_return ec;
    }
    const std::string wire = serialize(req);  // one buffer: see http/wire.hpp
    auto [ec, n] = co_await asio::async_write(stream_, asio::buffer(wire), use_tuple);
    co_return ec;
  }
  asio::awaitable<error_code> write(std::string_view wire, TimePoint deadline) override {
    lowest().expires_at(deadline);
    response_started_ = false;
    error_code ec;
    if (send_whole(stream_, wire, ec) || ec) co_return ec;
    co_return co_await send_rest(stream_, wire);
  }
  asio::awaitable<error_code> read_header(ResponseParser& parser, TimePoint deadline) override {
    return read(parser, deadline, Until::header);
  }
  asio::awaitable<error_code> read_some(ResponseParser& parser, TimePoint deadline) override {
    lowest().expires_at(deadline);
    auto [ec, n] = co_await bhttp::async_read_some(stream_, buffer_, parser, use_tuple);
    co_return ec;
  }
  asio::awaitable<error_code> read_rest(ResponseParser& parser, TimePoint deadline) override {
    return read(parser, deadline, Until::message);
  }
  void close() override {
    keep_tls_session();
    error_code ignored;
    lowest().socket().set_option(tcp::socket::linger(false, 0), ignored);
    lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    lowest().close();
  }
  void abort() override {
    keep_tls_session();
    lowest().close();  // SO_LINGER 0, set at connect
  }
  SSL* tls() override {
    if constexpr (std::is_same_v<Stream, TlsStream>) return stream_.native_handle();
    return nullptr;
  }
  bool peer_closed() override {
    if (buffer_.size() > 0) return true;  // unsolicited bytes: the connection is not clean
    auto& s = lowest().socket();
    if (!s.is_open()) return true;
    char byte;
    ssize_t n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return true;                                       // orderly close
    if (n < 0) return !(errno == EAGAIN || errno == EWOULDBLOCK);  // reset or other error
    return true;                                                   // data we did not ask for
  }
  bool response_started() const override { return response_started_; }

 private:
  enum class Until { header, message };

  // Beast's read loop (http::async_read_header, http::async_read) without its composed
  // operation: parse what the buffer holds, read more only when the parser needs more. The body
  // of a small answer usually came with its head, so the whole message is read without a
  // second asynchronous operation and its trip through the event loop.
  asio::awaitable<error_code> read(ResponseParser& parser, TimePoint deadline, Until until) {
    lowest().expires_at(deadline);
    parser.eager(until == Until::message);
    auto done = [&] { return until == Until::header ? parser.is_header_done() : parser.is_done(); };
    error_code ec;
    while (!done()) {
      if (buffer_.size() > 0) {
        const std::size_t used = parser.put(buffer_.data(), ec);
        buffer_.consume(used);
        if (ec == bhttp::error::need_more)
          ec = {};
        else if (ec)
          break;
        else if (used > 0)
          continue;
      }
      auto [rec, n] = co_await stream_.async_read_some(buffer_.prepare(beast::read_size(buffer_, 65536)), use_tuple);
      buffer_.commit(n);
      if (rec == asio::error::eof) {
        // A body that runs to the end of the connection ends here; anything else is cut short.
        if (parser.got_some())
          parser.put_eof(ec);
        else
          ec = bhttp::error::end_of_stream;
        break;
      }
      if (rec) {
        ec = rec;
        break;
      }
    }
    // A head is parsed only once whole: bytes of a partial one wait in the buffer.
    if (until == Until::header) response_started_ = !ec || parser.got_some() || buffer_.size() > 0;
    co_return ec;
  }

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }
  // Closing without a TLS close_notify would mark the session "bad" and spoil resumption;
  // the session itself is sound, so say the connection was shut down cleanly.
  void keep_tls_session() {
    if (SSL* ssl = tls()) SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  }
  Stream stream_;
  beast::flat_buffer buffer_;
  bool response_started_ = false;
};

// Whether a TLS session may be offered for resumption: not once its server certificate has
// expired, so that the full handshake checks the certificate the server has now (Go's client
// refuses such a session too). A resumed handshake carries no certificate to verify.
bool resumable(SSL_SESSION* session) {
  X509* peer = SSL_SESSION_get0_peer(session);
  return peer && X509_cmp_current_time(X509_get0_notAfter(peer)) > 0;
}

}  // namespace

ConnectionPool::Lease::~Lease() {
  if (conn_ && pool_) pool_->release(std::move(conn_));
}

ConnectionPool::ConnectionPool(asio::any_io_executor ex, Url url, Options options, ConnectHook on_connect)
    : ex_(ex), url_(std::move(url)), options_(options), on_connect_(std::move(on_connect)), freed_(ex), closing_(ex) {}

ConnectionPool::~ConnectionPool() {
  *alive_ = false;
  close_all();
}

void ConnectionPool::close_all() {
  closed_ = true;
  for (auto& c : idle_) c->close();
  open_ -= static_cast<int>(idle_.size());
  idle_.clear();
  freed_.notify_all();
  closing_.notify_all();
}

void ConnectionPool::abort_inflight() {
  aborted_ = true;
  for (auto* c : leased_) c->abort();
  freed_.notify_all();
}

void ConnectionPool::release(std::unique_ptr<ClientConnection> conn) {
  leased_.erase(conn.get());
  if (SSL* ssl = conn->tls(); ssl && conn->reusable) {
    // After an exchange the server's session ticket has arrived: keep it for the next handshake.
    if (SSL_SESSION* session = SSL_get1_session(ssl); session && SSL_SESSION_is_resumable(session)) {
      tls_session_.reset(session, SSL_SESSION_free);
      tls_session_credentials_ = conn->credentials;
    } else if (session)
      SSL_SESSION_free(session);
  }
  if (conn->reusable && !closed_ && !aborted_) {
    conn->reusable = false;  // the next user marks it again
    ++conn->exchanges;
    conn->last_used = Clock::now();
    idle_.push_back(std::move(conn));
    if (!sweeping_) {
      sweeping_ = true;
      asio::co_spawn(ex_, sweep(), asio::detached);
    }
  } else {
    conn->close();
    --open_;
  }
  freed_.notify_all();
}

// Closes idle connections past the idle timeout, so sockets do not linger for a server that
// already dropped them. Runs while there are idle connections.
asio::awaitable<void> ConnectionPool::sweep() {
  auto alive = alive_;
  while (*alive && !idle_.empty() && !closed_) {
    co_await closing_.wait_until(Clock::now() + options_.idle_timeout);
    if (!*alive) co_return;
    auto now = Clock::now();
    std::erase_if(idle_, [&](auto& c) {
      if (now - c->last_used < options_.idle_timeout) return false;
      c->close();
      --open_;
      return true;
    });
  }
  if (*alive) sweeping_ = false;
}

std::optional<ConnectionPool::Lease> ConnectionPool::take_idle() {
  const auto now = Clock::now();
  while (!closed_ && !idle_.empty()) {
    auto conn = std::move(idle_.back());
    idle_.pop_back();
    // A connection (or resumable session) made with an older client certificate would speak
    // as the old identity: once the certificate changes, only new connections are used.
    if (now - conn->last_used >= options_.idle_timeout || conn->peer_closed() ||
        (options_.tls.context && conn->credentials != options_.tls.context())) {
      conn->close();
      --open_;
      continue;
    }
    leased_.insert(conn.get());
    return std::optional<Lease>(std::in_place, this, std::move(conn));
  }
  return std::nullopt;
}

asio::awaitable<Result<ConnectionPool::Lease>> ConnectionPool::acquire(TimePoint deadline, bool fresh) {
  for (;;) {
    if (closed_) co_return make_error(ErrorCode::cancelled, "the sidecar is shutting down");
    auto now = Clock::now();
    if (fresh && open_ >= options_.max_connections && !idle_.empty()) {
      // Room for the new connection: the least recently used idle one goes.
      idle_.front()->close();
      idle_.erase(idle_.begin());
      --open_;
    }
    if (!fresh)
      if (auto lease = take_idle()) co_return std::move(*lease);
    if (open_ < options_.max_connections) {
      ++open_;
      auto conn = co_await connect(deadline);
      if (!conn) {
        --open_;
        freed_.notify_all();
        co_return std::move(conn).error();
      }
      leased_.insert(conn->get());
      co_return Lease(this, std::move(conn).value());
    }
    if (now >= deadline || !co_await freed_.wait_until(deadline)) {
      if (Clock::now() >= deadline)
        co_return make_error(ErrorCode::timeout, "no upstream connection became free before the call timeout");
    }
  }
}

asio::awaitable<Result<std::unique_ptr<ClientConnection>>> ConnectionPool::connect(TimePoint deadline) {
  const TimePoint started = Clock::now();
  auto connect_deadline = std::min(deadline, started + options_.connect_timeout);
  auto fail = [&](ErrorCode code, std::string message) {
    Error e{code, std::move(message)};
    e.not_delivered = true;
    if (on_connect_) on_connect_("error", &e, started);
    return e;
  };

  // Resolve on every new connection: a Service's address may change. Literal IPs skip it.
  std::vector<tcp::endpoint> endpoints;
  error_code ec;
  auto address = asio::ip::make_address(url_.host, ec);
  unsigned short port = static_cast<unsigned short>(std::stoi(url_.port));
  if (!ec) {
    endpoints.emplace_back(address, port);
  } else {
    tcp::resolver resolver(ex_);
    asio::steady_timer timer(ex_, connect_deadline);
    timer.async_wait([&resolver](error_code e) {
      if (!e) resolver.cancel();
    });
    auto [rec, results] = co_await resolver.async_resolve(url_.host, url_.port, use_tuple);
    timer.cancel();
    if (rec) {
      if (Clock::now() >= deadline) co_return fail(ErrorCode::timeout, "upstream name resolution timed out");
      co_return fail(ErrorCode::unavailable, rec == asio::error::operation_aborted
                                                 ? "upstream name resolution timed out"
                                                 : "cannot resolve upstream host");
    }
    for (const auto& r : results) endpoints.push_back(r.endpoint());
  }

  beast::tcp_stream stream(ex_);
  stream.expires_at(connect_deadline);
  auto [cec, ep] = co_await stream.async_connect(endpoints, use_tuple);
  if (cec) {
    if (cec == asio::error::no_descriptors || cec == asio::error::no_buffer_space)
      co_return fail(ErrorCode::overloaded, "out of file descriptors for upstream connections");
    if (cec == beast::error::timeout) {
      if (Clock::now() >= deadline)
        co_return fail(ErrorCode::timeout, "upstream connect did not finish before the call timeout");
      co_return fail(ErrorCode::unavailable, "upstream connect timed out");
    }
    co_return fail(ErrorCode::unavailable, "cannot connect to upstream: " + cec.message());
  }
  stream.socket().set_option(tcp::no_delay(true), ec);
  // Beast closes a connection whose deadline passed: that close must be a reset (see abort()).
  stream.socket().set_option(tcp::socket::linger(true, 0), ec);
  if (!url_.tls) {
    if (on_connect_) on_connect_("ok", nullptr, started);
    co_return std::unique_ptr<ClientConnection>(
        std::make_unique<BasicClientConnection<beast::tcp_stream>>(std::move(stream)));
  }
  co_return co_await handshake(std::move(stream), connect_deadline, started);
}

asio::awaitable<Result<std::unique_ptr<ClientConnection>>> ConnectionPool::handshake(beast::tcp_stream stream,
                                                                                     TimePoint deadline,
                                                                                     TimePoint started) {
  auto fail = [&](std::string message) {
    Error e{ErrorCode::unavailable, std::move(message)};
    e.not_delivered = true;
    if (on_connect_) on_connect_("tls_error", &e, started);
    return e;
  };
  auto context = options_.tls.context ? options_.tls.context() : nullptr;
  if (!context) co_return fail("no TLS client context for an https upstream");
  TlsStream tls_stream(std::move(stream), *context);
  SSL* ssl = tls_stream.native_handle();
  tls::remember_verify_errors(ssl);
  const std::string& name = options_.tls.server_name.empty() ? url_.host : options_.tls.server_name;
  error_code ec;
  asio::ip::make_address(name, ec);
  const bool is_ip = !ec;
  if (!is_ip) SSL_set_tlsext_host_name(ssl, name.c_str());
  if (options_.tls.expect_identity.empty()) {
    // Verify the name we dialled, as browsers do.
    if (is_ip)
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
    else
      SSL_set1_host(ssl, name.c_str());
  }
  if (tls_session_ && !resumable(tls_session_.get())) tls_session_.reset();
  if (tls_session_ && tls_session_credentials_ == context) SSL_set_session(ssl, tls_session_.get());
  beast::get_lowest_layer(tls_stream).expires_at(deadline);
  auto hec = co_await tls_stream.handshake(TlsStream::Role::client);
  if (hec) {
    long verify = tls::first_verify_error(ssl);
    if (verify != X509_V_OK)
      co_return fail(std::string("upstream certificate refused: ") + X509_verify_cert_error_string(verify));
    co_return fail("TLS handshake with the upstream failed");
  }
  if (!options_.tls.expect_identity.empty()) {
    auto names = tls::names_of(SSL_get0_peer_certificate(ssl));
    if (std::find(names.begin(), names.end(), options_.tls.expect_identity) == names.end())
      co_return fail("upstream certificate does not carry the expected identity");
  }
  if (on_connect_) on_connect_(SSL_session_reused(ssl) ? "tls_resumed" : "tls", nullptr, started);
  auto conn = std::make_unique<BasicClientConnection<TlsStream>>(std::move(tls_stream));
  conn->credentials = std::move(context);
  co_return std::unique_ptr<ClientConnection>(std::move(conn));
}

}  // namespace mcp_sidecar::http

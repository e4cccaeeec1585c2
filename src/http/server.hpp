// An HTTP/1.1 server for the sidecar's listeners (outbound API, admin; the inbound gate later):
// one coroutine per connection, a fresh parser per request with header and body limits, a
// deadline on every I/O phase, a connection limit answered with 503, and a drain sequence for
// shutdown. Handlers answer through an Exchange, whole or streamed. Runs on one executor.
#pragma once

#include "config/config.hpp"
#include "core/async.hpp"
#include "core/result.hpp"
#include "http/request.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mcp_sidecar {
class Metrics;
}

namespace boost::asio::ssl {
class context;
}

namespace mcp_sidecar::http {

namespace beast = boost::beast;
using Response = beast::http::response<beast::http::string_body>;
using StreamHead = beast::http::response<beast::http::empty_body>;

// Who is on the other end of a connection. `identity` is the verified client certificate's
// identity (URI SAN, else DNS SAN, else CN), empty without TLS or without a client certificate.
struct Peer {
  asio::ip::tcp::endpoint remote;
  bool tls = false;
  std::string identity;
};

// One request's way back to its client. A handler answers exactly once: respond(), or
// begin_stream() + write_chunk()... + end_stream(). Methods return false when the client is gone.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const asio::ip::tcp::endpoint& remote() const = 0;
  virtual const Peer& peer() const = 0;
  virtual asio::awaitable<bool> respond(Response response) = 0;
  // The answer respond() would write for a Response with this Content-Type, these fields and
  // this body, written as bytes (http/wire.hpp) without a Beast message: a call's answer.
  using Fields = std::vector<std::pair<std::string, std::string>>;
  virtual asio::awaitable<bool> respond(unsigned status, std::string_view content_type, std::string_view body,
                                        const Fields& fields) = 0;
  virtual asio::awaitable<bool> begin_stream(StreamHead head) = 0;
  virtual asio::awaitable<bool> write_chunk(std::string_view data) = 0;
  virtual asio::awaitable<bool> end_stream() = 0;
  virtual bool responded() const = 0;
  // Until the answer is complete: calls `callback` once if the client closes the connection
  // (seen at once, not at the next write), so a proxy can end what would answer it. Watching
  // stops at respond(), end_stream() or when the connection ends. A connection with more bytes
  // waiting (a pipelined request, a TLS close_notify) cannot be told apart from a live one and
  // is not reported.
  virtual void watch_client(std::function<void()> callback) = 0;
};

using Handler = std::function<asio::awaitable<void>(Request&, Exchange&)>;

// Builds a response with a body and Content-Type.
Response make_response(unsigned status, std::string body, std::string_view content_type, unsigned version = 11);
Response make_json_response(unsigned status, const nlohmann::json& body, unsigned version = 11);

// Why a request head must be refused with 400 before any handler sees it (RFC 9112): a
// Transfer-Encoding other than one `chunked` (we decode no other coding), Transfer-Encoding
// with Content-Length, more than one Host line, or none in HTTP/1.1. Empty when it may be
// served. Pure; `Head` is a Request or a Beast header.
template <class Head>
std::string_view head_problem(const Head& head) {
  using beast::http::field;
  // A body framed two ways, or by a coding we do not decode, ends where one reader says and
  // another does not: what is left would be read as the next request (RFC 9112 6.1, 6.3).
  if (const auto codings = head.count(field::transfer_encoding); codings > 0) {
    if (head.count(field::content_length)) return "Content-Length together with Transfer-Encoding";
    const std::string_view coding = head[field::transfer_encoding];
    if (codings > 1 || !beast::iequals(coding, "chunked")) return "Transfer-Encoding other than chunked";
  }
  // RFC 9112 3.2: exactly one Host in HTTP/1.1, at most one before.
  const auto hosts = head.count(field::host);
  if (hosts > 1) return "more than one Host";
  if (hosts == 0 && head.version() >= 11) return "no Host";
  return {};
}

class Server {
 public:
  // `name` labels metrics and logs ("outbound", "admin", ...).
  Server(asio::any_io_executor ex, std::string name, config::ListenerLimits limits, Handler handler, Metrics& metrics);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serve TLS: each new connection handshakes with the context the provider returns at accept
  // time (so reloaded certificates apply to new connections only). With `accept_plaintext`,
  // connections that do not start with a TLS handshake are served as plain HTTP (counted in
  // mcp_sidecar_plaintext_connections_total); their requests carry no client identity. Call
  // before start().
  using TlsProvider = std::function<std::shared_ptr<boost::asio::ssl::context>()>;
  void use_tls(TlsProvider provider, bool accept_plaintext = false);

  // Binds and listens on "host:port" (port 0 picks one).
  Result<void> listen(const std::string& host_port);
  void start();
  asio::ip::tcp::endpoint local_endpoint() const;

  // Shutdown sequence: stop_accepting(), drain() (idle connections close now, busy ones after
  // their current response), wait_closed(deadline), close_all() for whatever is left.
  void stop_accepting();
  void drain();
  // New TLS settings apply to new connections: this retires the existing ones gracefully. Idle
  // connections close now; busy ones answer their current request with Connection: close.
  void retire_connections();
  void close_all();
  asio::awaitable<void> wait_closed(TimePoint deadline);
  std::size_t connections() const;

  struct State;  // opaque; shared with the connection coroutines

 private:
  std::shared_ptr<State> state_;
};

}  // namespace mcp_sidecar::http

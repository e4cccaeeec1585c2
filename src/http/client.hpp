// The upstream side of HTTP: URLs, kept-alive client connections and a bounded per-upstream
// connection pool. A connection carries one exchange at a time; the pool hands out leases,
// reuses idle connections (LIFO) after checking the peer has not closed them, opens new ones up
// to a limit (resolving the host each time, with a timeout) and parks callers until a connection
// frees or their deadline passes. Runs on one executor.
#pragma once

#include "core/async.hpp"
#include "core/result.hpp"
#include "http/upstream_response.hpp"

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

using SSL = struct ssl_st;
using SSL_SESSION = struct ssl_session_st;

namespace boost::asio::ssl {
class context;
}

namespace mcp_sidecar::http {

namespace beast = boost::beast;
using ClientRequest = beast::http::request<beast::http::string_body>;
using error_code = boost::system::error_code;

struct Url {
  bool tls = false;
  std::string host;         // without brackets
  std::string port;         // always set (default 80/443)
  std::string target;       // path and query, "/" at least
  std::string host_header;  // host[:port] as it goes in Host
};
std::optional<Url> parse_url(std::string_view text);
// The request target a URI reference names when resolved against `base` (an absolute path, a
// relative path, or an absolute URL), only when it stays on base's origin (scheme, host, port):
// nullopt otherwise, so credentials never follow a server's pointer elsewhere.
std::optional<std::string> same_origin_target(const Url& base, std::string_view reference);

// One kept-alive connection to an upstream (plain TCP now; TLS is a second implementation).
// Every operation takes a deadline; when it passes, the connection is reset (as abort() does)
// and the operation fails with beast::error::timeout.
class ClientConnection {
 public:
  virtual ~ClientConnection() = default;
  virtual asio::awaitable<error_code> write(ClientRequest& req, TimePoint deadline) = 0;
  // A whole request already written as bytes (http/wire.hpp).
  virtual asio::awaitable<error_code> write(std::string_view wire, TimePoint deadline) = 0;
  virtual asio::awaitable<error_code> read_header(ResponseParser& parser, TimePoint deadline) = 0;
  // Reads whatever body bytes are available next (at least one), appending to parser body.
  virtual asio::awaitable<error_code> read_some(ResponseParser& parser, TimePoint deadline) = 0;
  virtual asio::awaitable<error_code> read_rest(ResponseParser& parser, TimePoint deadline) = 0;
  // Closes the connection (a FIN).
  virtual void close() = 0;
  // Resets the connection (SO_LINGER 0), for an exchange given up on (the caller left, the
  // sidecar is shutting down): what the kernel still holds of the request is dropped instead
  // of reaching the server once a partition heals, after the caller was told it failed. A
  // deadline that passes closes the connection this way too.
  virtual void abort() = 0;
  // A non-blocking peek: true when the peer has closed or reset the connection.
  virtual bool peer_closed() = 0;
  // After a failed read_header: whether any byte of the response had arrived. A reused
  // connection that ended with none was most likely closed by the server as we reused it,
  // with our request unread (RFC 9112 9.3.1).
  virtual bool response_started() const = 0;
  // The TLS connection, or null for plain TCP.
  virtual SSL* tls() { return nullptr; }

  bool reusable = false;   // set by the user after a clean, complete exchange
  unsigned exchanges = 0;  // exchanges completed on it (0 = fresh)
  // The TLS client context it was made with: who the sidecar is on it (its client certificate).
  std::shared_ptr<const void> credentials;
  TimePoint last_used{};
};

class ConnectionPool {
 public:
  // TLS to the upstream (https URLs): the context current at connect time, the name sent as SNI
  // and checked against the certificate, or an exact identity (a URI SAN such as a SPIFFE id,
  // or a DNS SAN) the certificate must carry instead.
  struct Tls {
    std::function<std::shared_ptr<boost::asio::ssl::context>()> context;
    std::string server_name;      // default: the URL's host
    std::string expect_identity;  // default: verify server_name as a host name
  };

  struct Options {
    int max_connections = 64;
    milliseconds idle_timeout{4000};
    milliseconds connect_timeout{5000};
    Tls tls;
  };

  // Returns its connection to the pool when destroyed (kept only if marked reusable).
  class Lease {
   public:
    Lease(ConnectionPool* pool, std::unique_ptr<ClientConnection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& o) noexcept : pool_(o.pool_), conn_(std::move(o.conn_)) { o.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    ClientConnection& operator*() { return *conn_; }
    ClientConnection* operator->() { return conn_.get(); }
    bool reused() const { return conn_->exchanges > 0; }

   private:
    ConnectionPool* pool_;
    std::unique_ptr<ClientConnection> conn_;
  };

  // `on_connect(outcome, failure, started)` is told about every connection attempt: its outcome
  // (ok, error, tls (a full TLS handshake), tls_resumed, tls_error), when it failed, why, and
  // when it began (an attempt may end long after others that began later).
  using ConnectHook = std::function<void(std::string_view outcome, const Error* failure, TimePoint started)>;
  ConnectionPool(asio::any_io_executor ex, Url url, Options options, ConnectHook on_connect = {});
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A connection for one exchange: an idle one if any, unless `fresh` (for a request sent again
  // after a reused connection died under it). Errors: unavailable (resolve/connect failed; never
  // reached the server), overloaded (out of file descriptors), timeout (deadline passed while
  // waiting).
  asio::awaitable<Result<Lease>> acquire(TimePoint deadline, bool fresh = false);
  // The idle connection acquire() would take first, without suspending (a call's usual path
  // costs no coroutine frame this way); empty when it would have to connect or wait.
  std::optional<Lease> take_idle();
  // Shutdown after the grace period: resets the connections of exchanges still in flight (their
  // users see an I/O error and check aborted()). New leases still work, for the DELETEs.
  void abort_inflight();
  bool aborted() const { return aborted_; }
  void close_all();

  const Url& url() const { return url_; }
  asio::any_io_executor executor() const { return ex_; }
  int open() const { return open_; }
  std::size_t idle() const { return idle_.size(); }
  std::size_t waiting() const { return freed_.waiters(); }

 private:
  void release(std::unique_ptr<ClientConnection> conn);
  asio::awaitable<Result<std::unique_ptr<ClientConnection>>> connect(TimePoint deadline);
  // The TLS handshake on a connection made by the attempt that began at `started`.
  asio::awaitable<Result<std::unique_ptr<ClientConnection>>> handshake(boost::beast::tcp_stream stream,
                                                                       TimePoint deadline, TimePoint started);
  asio::awaitable<void> sweep();

  asio::any_io_executor ex_;
  Url url_;
  Options options_;
  ConnectHook on_connect_;
  std::shared_ptr<SSL_SESSION> tls_session_;             // the last session, offered for resumption
  std::shared_ptr<const void> tls_session_credentials_;  // ...made with this client context
  std::vector<std::unique_ptr<ClientConnection>> idle_;  // most recently used last
  std::unordered_set<ClientConnection*> leased_;
  int open_ = 0;  // idle + leased + connecting
  Notifier freed_;
  Notifier closing_;  // wakes the idle sweep when the pool closes
  bool sweeping_ = false;
  bool closed_ = false;
  bool aborted_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mcp_sidecar::http

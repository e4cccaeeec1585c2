#include "http/tls_stream.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <tuple>

namespace mcp_sidecar::http {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using namespace asio::experimental::awaitable_operators;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

#define CO_ASSERT(cond)                   \
  if (!(cond)) {                          \
    ADD_FAILURE() << "assertion: " #cond; \
    co_return;                            \
  }

// A certificate and key from the openssl CLI (made once), the contexts that use them, and a
// connected pair of TLS streams over loopback.
class TlsStreamTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("tls-stream-unit-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    for (const char* name : {"server", "stranger"}) {
      const std::string cmd =
          "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "
          "'/CN=localhost' -addext 'subjectAltName=DNS:localhost' -keyout " +
          path(name, "key") + " -out " + path(name, "crt") + " 2>/dev/null";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string path(const std::string& name, const char* ext) { return (dir_ / (name + "." + ext)).string(); }

  void SetUp() override {
    server_ctx_.use_certificate_chain_file(path("server", "crt"));
    server_ctx_.use_private_key_file(path("server", "key"), asio::ssl::context::pem);
    client_ctx_.set_verify_mode(asio::ssl::verify_peer);
    client_ctx_.load_verify_file(path("server", "crt"));
  }

  // Runs `body(client, server)` on a fresh event loop with the two ends connected (not yet
  // handshaken), to completion (10 s at most). `small_buffers` shrinks the kernel's buffers so
  // that a message of a few dozen kilobytes fills them.
  template <class F>
  void run(F&& body, bool small_buffers = false) {
    asio::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    tcp::socket client_socket(ioc);
    client_socket.connect(acceptor.local_endpoint());
    tcp::socket server_socket = acceptor.accept();
    if (small_buffers) {
      client_socket.set_option(asio::socket_base::send_buffer_size(4096));
      server_socket.set_option(asio::socket_base::receive_buffer_size(4096));
    }
    TlsStream client(boost::beast::tcp_stream(std::move(client_socket)), client_ctx_);
    TlsStream server(boost::beast::tcp_stream(std::move(server_socket)), server_ctx_);
    std::exception_ptr failure;
    bool done = false;
    asio::co_spawn(ioc, body(client, server), [&](std::exception_ptr e) {
      failure = e;
      done = true;
    });
    ioc.run_for(std::chrono::seconds(10));
    if (failure) std::rethrow_exception(failure);
    EXPECT_TRUE(done) << "the test body did not finish";
  }

  static asio::awaitable<void> handshake(TlsStream& client, TlsStream& server) {
    auto [c, s] = co_await (client.handshake(TlsStream::Role::client) && server.handshake(TlsStream::Role::server));
    EXPECT_FALSE(c) << c.message();
    EXPECT_FALSE(s) << s.message();
  }

  // Reads exactly `n` bytes of plaintext.
  static asio::awaitable<std::string> read_exactly(TlsStream& stream, std::size_t n) {
    std::string got(n, '\0');
    auto [ec, read] = co_await asio::async_read(stream, asio::buffer(got), use_tuple);
    EXPECT_FALSE(ec) << ec.message();
    got.resize(read);
    co_return got;
  }

  static std::string text(std::size_t n) {
    std::string s;
    s.reserve(n);
    for (std::size_t i = 0; s.size() < n; ++i) s += std::to_string(i) + ',';
    s.resize(n);
    return s;
  }

  asio::ssl::context server_ctx_{asio::ssl::context::tls_server};
  asio::ssl::context client_ctx_{asio::ssl::context::tls_client};
  static fs::path dir_;
};
fs::path TlsStreamTest::dir_;

TEST_F(TlsStreamTest, AWholeMessageGoesAtOnceWhenTheSocketTakesIt) {
  run([](TlsStream& client, TlsStream& server) -> asio::awaitable<void> {
    co_await handshake(client, server);
    const std::string request = text(1500);
    std::string_view rest = request;
    error_code ec;
    CO_ASSERT(client.send_now(rest, ec));
    EXPECT_FALSE(ec);
    EXPECT_TRUE(rest.empty());
    EXPECT_FALSE(client.pending());  // the records went with one send
    EXPECT_EQ(co_await read_exactly(server, request.size()), request);
    // And back, through the generic write.
    const std::string answer = text(900);
    auto [wec, n] = co_await asio::async_write(server, asio::buffer(answer), use_tuple);
    EXPECT_FALSE(wec);
    EXPECT_EQ(n, answer.size());
    EXPECT_EQ(co_await read_exactly(client, answer.size()), answer);
  });
}

TEST_F(TlsStreamTest, WhatTheSocketDidNotTakeIsFlushedInOrder) {
  run(
      [](TlsStream& client, TlsStream& server) -> asio::awaitable<void> {
        co_await handshake(client, server);
        // 60 KB: under the send-at-once limit, over what the shrunken buffers hold.
        const std::string message = text(60 * 1024);
        std::string_view rest = message;
        error_code ec;
        CO_ASSERT(client.send_now(rest, ec));
        EXPECT_TRUE(rest.empty());
        CO_ASSERT(client.pending());  // ciphertext waits: this case tests the flush
        auto [flushed, got] = co_await (client.flush() && read_exactly(server, message.size()));
        EXPECT_FALSE(flushed) << flushed.message();
        EXPECT_FALSE(client.pending());
        EXPECT_TRUE(got == message) << "the message arrived altered";
      },
      true);
}

TEST_F(TlsStreamTest, MessagesOverTheLimitAreWrittenWholeBothWays) {
  run([](TlsStream& client, TlsStream& server) -> asio::awaitable<void> {
    co_await handshake(client, server);
    const std::string big = text(3 * 1024 * 1024 + 17);
    std::string_view rest = big;
    error_code ec;
    CO_ASSERT(client.send_now(rest, ec));
    EXPECT_EQ(rest.size(), big.size());  // left whole to the asynchronous write
    auto write = [&](TlsStream& s) -> asio::awaitable<std::size_t> {
      auto [wec, n] = co_await asio::async_write(s, asio::buffer(big), use_tuple);
      EXPECT_FALSE(wec) << wec.message();
      co_return n;
    };
    auto [n, got] = co_await (write(client) && read_exactly(server, big.size()));
    EXPECT_EQ(n, big.size());
    EXPECT_TRUE(got == big) << "client to server: altered";
    auto [m, back] = co_await (write(server) && read_exactly(client, big.size()));
    EXPECT_TRUE(back == big) << "server to client: altered";
  });
}

TEST_F(TlsStreamTest, AWriteOfASequenceThatStartsWithAnEmptyBufferWritesTheNext) {
  // Beast's serializer hands such sequences to write_some: an empty first buffer must not read
  // as a write of nothing, which ends a write loop early.
  run([](TlsStream& client, TlsStream& server) -> asio::awaitable<void> {
    co_await handshake(client, server);
    const std::string body = text(2000);
    const std::array<asio::const_buffer, 3> pieces{asio::const_buffer(), asio::buffer(body), asio::const_buffer()};
    auto [ec, n] = co_await client.async_write_some(pieces, use_tuple);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(n, body.size());
    EXPECT_EQ(co_await read_exactly(server, body.size()), body);
  });
}

TEST_F(TlsStreamTest, CloseNotifyIsEndOfStreamAndAPlainCloseIsATruncation) {
  run([](TlsStream& client, TlsStream& server) -> asio::awaitable<void> {
    co_await handshake(client, server);
    SSL_shutdown(client.native_handle());  // close_notify, written into the stream's output
    CO_ASSERT(client.pending());
    EXPECT_FALSE(co_await client.flush());
    char byte;
    auto [ec, n] = co_await server.async_read_some(asio::buffer(&byte, 1), use_tuple);
    EXPECT_EQ(ec, asio::error::eof) << ec.message();
  });
  run([](TlsStream& client, TlsStream& server) -> asio::awaitable<void> {
    co_await handshake(client, server);
    client.next_layer().socket().shutdown(tcp::socket::shutdown_send);  // a FIN, no close_notify
    char byte;
    auto [ec, n] = co_await server.async_read_some(asio::buffer(&byte, 1), use_tuple);
    EXPECT_EQ(ec, asio::ssl::error::stream_truncated) << ec.message();
  });
}

TEST_F(TlsStreamTest, AnUntrustedCertificateFailsBothHandshakesWithTheAlertSent) {
  client_ctx_ = asio::ssl::context(asio::ssl::context::tls_client);
  client_ctx_.set_verify_mode(asio::ssl::verify_peer);
  client_ctx_.load_verify_file(path("stranger", "crt"));
  run([](TlsStream& client, TlsStream& server) -> asio::awaitable<void> {
    auto [c, s] = co_await (client.handshake(TlsStream::Role::client) && server.handshake(TlsStream::Role::server));
    EXPECT_EQ(c.category(), asio::error::get_ssl_category()) << c.message();
    EXPECT_EQ(ERR_GET_REASON(c.value()), SSL_R_CERTIFICATE_VERIFY_FAILED) << c.message();
    // The server learns why from the client's alert, not from a dropped connection.
    EXPECT_EQ(s.category(), asio::error::get_ssl_category()) << s.message();
    EXPECT_NE(s, asio::ssl::error::stream_truncated);
  });
}

TEST_F(TlsStreamTest, ADeadlineOnTheConnectionEndsARead) {
  run([](TlsStream& client, TlsStream& server) -> asio::awaitable<void> {
    co_await handshake(client, server);
    server.next_layer().expires_after(std::chrono::milliseconds(50));
    char byte;
    auto [ec, n] = co_await server.async_read_some(asio::buffer(&byte, 1), use_tuple);
    EXPECT_EQ(ec, boost::beast::error::timeout) << ec.message();
  });
}

}  // namespace
}  // namespace mcp_sidecar::http

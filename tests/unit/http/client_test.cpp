#include "http/client.hpp"

#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <exception>
#include <string>
#include <vector>

namespace mcp_sidecar::http {
namespace {

using tcp = asio::ip::tcp;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// ASSERT_* returns, which a coroutine cannot: fail and co_return instead.
#define CO_ASSERT(cond)                   \
  if (!(cond)) {                          \
    ADD_FAILURE() << "assertion: " #cond; \
    co_return;                            \
  }

// Runs a test body as a coroutine on its own event loop, to completion (5 s at most).
template <class F>
void run(F&& body) {
  asio::io_context ioc;
  std::exception_ptr failure;
  bool done = false;
  asio::co_spawn(ioc, std::forward<F>(body)(ioc.get_executor()), [&](std::exception_ptr e) {
    failure = e;
    done = true;
  });
  ioc.run_for(std::chrono::seconds(5));
  if (failure) std::rethrow_exception(failure);
  EXPECT_TRUE(done) << "the test body did not finish";
}

// A loopback server whose connections `serve` handles, one coroutine each.
class Server {
 public:
  using Handler = std::function<asio::awaitable<void>(tcp::socket)>;
  Server(asio::any_io_executor ex, Handler serve)
      : acceptor_(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), serve_(std::move(serve)) {
    auto accept_loop = [this]() -> asio::awaitable<void> {
      for (;;) {
        auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
        if (ec) co_return;
        ++accepted;
        asio::co_spawn(acceptor_.get_executor(), serve_(std::move(socket)), asio::detached);
      }
    };
    asio::co_spawn(ex, accept_loop, asio::detached);
  }
  ~Server() { acceptor_.close(); }
  Url url() const { return *parse_url("http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/"); }

  int accepted = 0;

 private:
  tcp::acceptor acceptor_;
  Handler serve_;
};

asio::awaitable<bool> read_request(tcp::socket& socket) {
  std::string head;
  auto [ec, n] = co_await asio::async_read_until(socket, asio::dynamic_buffer(head), "\r\n\r\n", use_tuple);
  co_return !ec;
}

// Answers every request with an empty 200, keeping the connection.
asio::awaitable<void> answer_all(tcp::socket socket) {
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
  while (co_await read_request(socket)) {
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(ok), use_tuple);
    if (ec) co_return;
  }
}

ClientRequest get(const Url& url) {
  ClientRequest req{beast::http::verb::get, url.target, 11};
  req.set(beast::http::field::host, url.host_header);
  return req;
}

TimePoint in(int ms) { return Clock::now() + milliseconds(ms); }

// One GET on the lease's connection, read to its end; marks it reusable.
asio::awaitable<error_code> exchange(ConnectionPool::Lease& lease, const Url& url) {
  auto req = get(url);
  if (auto ec = co_await lease->write(req, in(1000))) co_return ec;
  ResponseParser parser;
  if (auto ec = co_await lease->read_header(parser, in(1000))) co_return ec;
  if (auto ec = co_await lease->read_rest(parser, in(1000))) co_return ec;
  lease->reusable = parser.keep_alive();
  co_return error_code{};
}

TEST(ConnectionPool, ReusesAnIdleConnectionUnlessAskedForAFreshOne) {
  run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    Server server(ex, answer_all);
    ConnectionPool pool(ex, server.url(), {.max_connections = 1});
    {
      auto lease = co_await pool.acquire(in(1000));
      CO_ASSERT(lease);
      EXPECT_FALSE(lease->reused());
      EXPECT_FALSE(co_await exchange(lease.value(), server.url()));
    }
    {
      auto lease = co_await pool.acquire(in(1000));
      CO_ASSERT(lease);
      EXPECT_TRUE(lease->reused());
      EXPECT_FALSE(co_await exchange(lease.value(), server.url()));
    }
    // At the connection limit, the idle connection makes room for the fresh one.
    auto lease = co_await pool.acquire(in(1000), true);
    CO_ASSERT(lease);
    EXPECT_FALSE(lease->reused());
    EXPECT_FALSE(co_await exchange(lease.value(), server.url()));
    EXPECT_EQ(server.accepted, 2);
    EXPECT_EQ(pool.open(), 1);
    EXPECT_EQ(pool.idle(), 0u);
    pool.close_all();
    co_await sleep_for(milliseconds(1));  // the idle sweep sees the pool closed
  });
}

TEST(ClientConnection, TellsWhetherAnyByteOfTheAnswerArrivedBeforeTheConnectionEnded) {
  // The first connection ends without a byte; the second after part of a status line.
  int connections = 0;
  auto serve = [&](tcp::socket socket) -> asio::awaitable<void> {
    const bool partial = connections++ > 0;
    if (!co_await read_request(socket)) co_return;
    if (partial) {
      const std::string part = "HTTP/1.1 20";
      co_await asio::async_write(socket, asio::buffer(part), use_tuple);
    }
    error_code ignored;
    socket.shutdown(tcp::socket::shutdown_send, ignored);
  };
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Server server(ex, serve);
    ConnectionPool pool(ex, server.url(), {});
    std::vector<bool> started;
    for (int i = 0; i < 2; ++i) {
      auto lease = co_await pool.acquire(in(1000));
      CO_ASSERT(lease);
      auto req = get(server.url());
      EXPECT_FALSE(co_await lease.value()->write(req, in(1000)));
      ResponseParser parser;
      EXPECT_TRUE(co_await lease.value()->read_header(parser, in(1000)));
      started.push_back(lease.value()->response_started());
    }
    EXPECT_EQ(started, (std::vector<bool>{false, true}));
  });
}

// What the server reads when the client ends the connection: a reset when it gave up on an
// exchange (abort(), or a deadline that passed), so that nothing it still held unsent arrives
// later; the end of the stream when it closes.
TEST(ClientConnection, AnExchangeGivenUpOnIsResetAClosedConnectionEnds) {
  std::vector<error_code> seen;
  auto serve = [&](tcp::socket socket) -> asio::awaitable<void> {
    std::string buffer(1024, '\0');
    for (;;) {  // reads until the connection ends, answering nothing
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), use_tuple);
      if (!ec) continue;
      seen.push_back(ec);
      co_return;
    }
  };
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    Server server(ex, serve);
    ConnectionPool pool(ex, server.url(), {});
    for (std::string_view end : {"abort", "deadline", "close"}) {
      const auto before = seen.size();
      auto lease = co_await pool.acquire(in(1000));
      CO_ASSERT(lease);
      auto& conn = *lease.value();
      auto req = get(server.url());
      EXPECT_FALSE(co_await conn.write(req, in(1000)));
      if (end == "abort") conn.abort();
      if (end == "close") conn.close();
      if (end == "deadline") {
        ResponseParser parser;
        EXPECT_EQ(co_await conn.read_header(parser, in(20)), beast::error::timeout);
      }
      while (seen.size() == before) co_await sleep_for(milliseconds(1));
    }
    EXPECT_EQ(seen, (std::vector<error_code>{asio::error::connection_reset, asio::error::connection_reset,
                                             asio::error::eof}));
  });
}

TEST(ConnectionPool, ToldOfEveryConnectionAttemptAndWhyOneFailed) {
  run([](asio::any_io_executor ex) -> asio::awaitable<void> {
    Url url;
    {
      Server closed(ex, answer_all);
      url = closed.url();
    }  // the port refuses from now on
    std::vector<std::string> outcomes;
    std::vector<ErrorCode> failures;
    TimePoint began{};
    ConnectionPool pool(ex, url, {}, [&](std::string_view outcome, const Error* failure, TimePoint started) {
      outcomes.emplace_back(outcome);
      if (failure) failures.push_back(failure->code);
      began = started;
    });
    const TimePoint before = Clock::now();
    auto lease = co_await pool.acquire(in(1000));
    EXPECT_GE(began, before);  // when the attempt began, not when it ended
    EXPECT_LE(began, Clock::now());
    CO_ASSERT(!lease);
    EXPECT_EQ(lease.error().code, ErrorCode::unavailable);
    EXPECT_TRUE(lease.error().not_delivered);
    EXPECT_EQ(outcomes, (std::vector<std::string>{"error"}));
    EXPECT_EQ(failures, (std::vector<ErrorCode>{ErrorCode::unavailable}));
  });
}

}  // namespace
}  // namespace mcp_sidecar::http

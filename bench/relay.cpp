// mcp-bench-relay: the floor of the sidecar's own stack, for the benchmark harness. A minimal
// HTTP/1.1 reverse proxy written the way the Beast examples write one, with the same pieces the
// sidecar is built from (Asio C++20 coroutines on one io_context thread, beast::tcp_stream,
// Beast's parser and serializer, string bodies) and nothing else: no JSON, no MCP, no logging,
// no metrics, no timeouts beyond one per I/O phase. Each downstream connection gets one kept-alive
// upstream connection, opened on its first request (what nginx's `keepalive` pool amounts to at a
// fixed number of connections).
//
// What it measures: the CPU per call and latency of one hop through Beast + Asio alone, so the
// harness can show how much of the sidecar's cost is its MCP work and how much the stack it is
// built on costs before any MCP work is done.
//
//   mcp-bench-relay --listen 127.0.0.1:0 --upstream 127.0.0.1:PORT
// Prints `listening PORT` on stdout once it accepts connections.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::ip::tcp;

namespace {

constexpr auto kTimeout = std::chrono::seconds(30);

tcp::endpoint parse_endpoint(std::string_view value) {
  const auto colon = value.rfind(':');
  if (colon == std::string_view::npos) throw std::invalid_argument("expected HOST:PORT");
  return {asio::ip::make_address(std::string(value.substr(0, colon))),
          static_cast<unsigned short>(std::stoi(std::string(value.substr(colon + 1))))};
}

tcp::endpoint upstream_endpoint;

// One downstream connection: read a request, pass it on over this connection's upstream
// connection, pass the response back, until either side ends.
asio::awaitable<void> serve(beast::tcp_stream client) {
  beast::flat_buffer client_buffer;
  beast::flat_buffer upstream_buffer;
  std::optional<beast::tcp_stream> upstream;
  for (;;) {
    bhttp::request<bhttp::string_body> req;
    client.expires_after(kTimeout);
    auto [ec, n] = co_await bhttp::async_read(client, client_buffer, req, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    const bool keep = req.keep_alive();
    req.keep_alive(true);  // the upstream connection stays open whatever the client asked

    if (!upstream) {
      upstream.emplace(client.get_executor());
      upstream->expires_after(kTimeout);
      auto [cec] = co_await upstream->async_connect(upstream_endpoint, asio::as_tuple(asio::use_awaitable));
      if (cec) co_return;
      upstream->socket().set_option(tcp::no_delay(true));
    }
    upstream->expires_after(kTimeout);
    auto [wec, wn] = co_await bhttp::async_write(*upstream, req, asio::as_tuple(asio::use_awaitable));
    if (wec) co_return;
    bhttp::response<bhttp::string_body> res;
    auto [rec, rn] = co_await bhttp::async_read(*upstream, upstream_buffer, res, asio::as_tuple(asio::use_awaitable));
    if (rec) co_return;
    if (!res.keep_alive()) upstream.reset();

    res.keep_alive(keep);
    client.expires_after(kTimeout);
    auto [cwec, cwn] = co_await bhttp::async_write(client, res, asio::as_tuple(asio::use_awaitable));
    if (cwec || !keep) co_return;
  }
}

asio::awaitable<void> accept(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) continue;
    socket.set_option(tcp::no_delay(true));
    asio::co_spawn(acceptor.get_executor(), serve(beast::tcp_stream(std::move(socket))), asio::detached);
  }
}

int usage() {
  std::fprintf(stderr, "usage: mcp-bench-relay --listen HOST:PORT --upstream HOST:PORT\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  tcp::endpoint listen;
  bool have_upstream = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      if (arg == "--listen" && i + 1 < argc) {
        listen = parse_endpoint(argv[++i]);
      } else if (arg == "--upstream" && i + 1 < argc) {
        upstream_endpoint = parse_endpoint(argv[++i]);
        have_upstream = true;
      } else {
        return usage();
      }
    }
  } catch (const std::exception&) {
    return usage();
  }
  if (!have_upstream) return usage();
  asio::io_context io{1};
  tcp::acceptor acceptor{io, listen};
  acceptor.listen(4096);
  asio::signal_set signals{io, SIGINT, SIGTERM};
  signals.async_wait([&](auto, int) { io.stop(); });
  asio::co_spawn(io, accept(acceptor), asio::detached);
  std::cout << "listening " << acceptor.local_endpoint().port() << std::endl;
  io.run();
}

// mcp-bench-relay: the floor of the sidecar's own stack, for the benchmark harness. A minimal
// HTTP/1.1 reverse proxy written the way the Beast examples write one, with the same pieces the
// sidecar is built from (Asio C++20 coroutines on one io_context thread, beast::tcp_stream,
// Beast's parser and serializer, string bodies) and nothing else: no JSON, no MCP, no logging,
// no metrics, no timeouts beyond one per I/O phase. Each downstream connection gets one kept-alive
// upstream connection, opened on its first request (what nginx's `keepalive` pool amounts to at a
// fixed number of connections).
//
// Two leaner modes take Beast apart. --lean keeps Beast's parser and the deadline per I/O phase
// but not Beast's message containers: the parser's handlers write each message back out into one
// string, which goes on as it is. --raw leaves Beast out: plain Asio sockets, no deadlines, and
// messages framed by their Content-Length alone and passed on byte for byte. Neither rewrites a
// header or takes a chunked body: floors, not proxies.
//
// What it measures: the CPU per call and latency of one hop through Asio with all of Beast's
// HTTP layer, with its parser alone, and without it, so the harness can show how much of the
// sidecar's cost is its MCP work, how much Beast's HTTP layer, and how much Asio and the kernel.
//
//   mcp-bench-relay --listen 127.0.0.1:0 --upstream 127.0.0.1:PORT [--lean | --raw]
// Prints `listening PORT` on stdout once it accepts connections.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <strings.h>

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

// --lean: Beast's parser without Beast's message containers. The parser hands each part of a
// message to these handlers, which write it straight back out (start line, fields, body) into
// one string that goes on as it is: no field container, no serializer. Chunked bodies are
// refused (the string would lose their framing).
template <bool isRequest>
class LeanParser : public bhttp::basic_parser<isRequest> {
 public:
  std::string wire;

 private:
  void on_request_impl(bhttp::verb, beast::string_view method, beast::string_view target, int version,
                       beast::error_code&) override {
    wire.append(method).append(" ").append(target).append(version == 11 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
  }
  void on_response_impl(int status, beast::string_view reason, int version, beast::error_code&) override {
    wire.append(version == 11 ? "HTTP/1.1 " : "HTTP/1.0 ").append(std::to_string(status)).append(" ").append(reason);
    wire.append("\r\n");
  }
  void on_field_impl(bhttp::field, beast::string_view name, beast::string_view value, beast::error_code&) override {
    wire.append(name).append(": ").append(value).append("\r\n");
  }
  void on_header_impl(beast::error_code&) override { wire.append("\r\n"); }
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, beast::error_code&) override {
    if (length) wire.reserve(wire.size() + *length);
  }
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override {
    wire.append(body);
    return body.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code& ec) override {
    ec = bhttp::error::bad_transfer_encoding;
  }
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view, beast::error_code& ec) override {
    ec = bhttp::error::bad_transfer_encoding;
    return 0;
  }
  void on_finish_impl(beast::error_code&) override {}
};

asio::awaitable<void> serve_lean(beast::tcp_stream client) {
  beast::flat_buffer client_buffer;
  beast::flat_buffer upstream_buffer;
  beast::tcp_stream upstream(client.get_executor());
  upstream.expires_after(kTimeout);
  auto [cec] = co_await upstream.async_connect(upstream_endpoint, asio::as_tuple(asio::use_awaitable));
  if (cec) co_return;
  upstream.socket().set_option(tcp::no_delay(true));
  for (;;) {
    LeanParser<true> req;
    client.expires_after(kTimeout);
    auto [ec, n] = co_await bhttp::async_read(client, client_buffer, req, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    upstream.expires_after(kTimeout);
    auto [wec, wn] = co_await asio::async_write(upstream, asio::buffer(req.wire), asio::as_tuple(asio::use_awaitable));
    if (wec) co_return;
    LeanParser<false> res;
    auto [rec, rn] = co_await bhttp::async_read(upstream, upstream_buffer, res, asio::as_tuple(asio::use_awaitable));
    if (rec) co_return;
    client.expires_after(kTimeout);
    auto [cwec, cwn] = co_await asio::async_write(client, asio::buffer(res.wire), asio::as_tuple(asio::use_awaitable));
    if (cwec) co_return;
  }
}

// --raw: the bytes read from one socket and not yet passed on.
struct RawBuffer {
  std::array<char, 64 * 1024> data;
  std::size_t size = 0;
  void consume(std::size_t n) {
    std::copy(data.begin() + n, data.begin() + size, data.begin());
    size -= n;
  }
};

// The size of the complete message at the start of `buffer`, 0 while it is incomplete, and
// npos when it has no Content-Length or is too big for the buffer.
std::size_t framed_size(const RawBuffer& buffer) {
  const std::string_view text(buffer.data.data(), buffer.size);
  const auto head_end = text.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return buffer.size == buffer.data.size() ? std::string_view::npos : 0;
  constexpr std::string_view kLength = "content-length:";
  for (auto line = text.find("\r\n"); line < head_end; line = text.find("\r\n", line + 2)) {
    const auto field = text.substr(line + 2);
    if (field.size() < kLength.size() || strncasecmp(field.data(), kLength.data(), kLength.size()) != 0) continue;
    auto value = field.substr(kLength.size());
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    std::size_t length = 0;
    if (std::from_chars(value.data(), value.data() + value.size(), length).ec != std::errc{}) break;
    const auto total = head_end + 4 + length;
    if (total > buffer.data.size()) break;
    return buffer.size >= total ? total : 0;
  }
  return std::string_view::npos;
}

// Reads until `buffer` (which may already hold the start of it) holds one whole message, framed
// by its Content-Length. Returns its size, or 0 when the stream ends or the message cannot be
// framed.
asio::awaitable<std::size_t> read_framed(tcp::socket& socket, RawBuffer& buffer) {
  for (;;) {
    const auto size = framed_size(buffer);
    if (size == std::string_view::npos) co_return 0;
    if (size != 0) co_return size;
    auto [ec, n] = co_await socket.async_read_some(
        asio::buffer(buffer.data.data() + buffer.size, buffer.data.size() - buffer.size),
        asio::as_tuple(asio::use_awaitable));
    if (ec) co_return 0;
    buffer.size += n;
  }
}

// Passes one message from `from` to `to`.
asio::awaitable<bool> pass_one(tcp::socket& from, RawBuffer& buffer, tcp::socket& to) {
  const auto size = co_await read_framed(from, buffer);
  if (size == 0) co_return false;
  auto [ec, n] =
      co_await asio::async_write(to, asio::buffer(buffer.data.data(), size), asio::as_tuple(asio::use_awaitable));
  buffer.consume(size);
  co_return !ec;
}

asio::awaitable<void> serve_raw(tcp::socket client) {
  auto buffers = std::make_unique<std::array<RawBuffer, 2>>();
  auto& [from_client, from_upstream] = *buffers;
  tcp::socket upstream(client.get_executor());
  auto [ec] = co_await upstream.async_connect(upstream_endpoint, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return;
  upstream.set_option(tcp::no_delay(true));
  while (co_await pass_one(client, from_client, upstream) && co_await pass_one(upstream, from_upstream, client)) {
  }
}

enum class Mode { beast, lean, raw };

asio::awaitable<void> accept(tcp::acceptor& acceptor, Mode mode) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) continue;
    socket.set_option(tcp::no_delay(true));
    const auto ex = acceptor.get_executor();
    switch (mode) {
      case Mode::beast:
        asio::co_spawn(ex, serve(beast::tcp_stream(std::move(socket))), asio::detached);
        break;
      case Mode::lean:
        asio::co_spawn(ex, serve_lean(beast::tcp_stream(std::move(socket))), asio::detached);
        break;
      case Mode::raw:
        asio::co_spawn(ex, serve_raw(std::move(socket)), asio::detached);
        break;
    }
  }
}

int usage() {
  std::fprintf(stderr, "usage: mcp-bench-relay --listen HOST:PORT --upstream HOST:PORT [--lean | --raw]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  tcp::endpoint listen;
  bool have_upstream = false;
  Mode mode = Mode::beast;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string_view arg = argv[i];
      if (arg == "--listen" && i + 1 < argc) {
        listen = parse_endpoint(argv[++i]);
      } else if (arg == "--upstream" && i + 1 < argc) {
        upstream_endpoint = parse_endpoint(argv[++i]);
        have_upstream = true;
      } else if (arg == "--lean") {
        mode = Mode::lean;
      } else if (arg == "--raw") {
        mode = Mode::raw;
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
  asio::co_spawn(io, accept(acceptor, mode), asio::detached);
  std::cout << "listening " << acceptor.local_endpoint().port() << std::endl;
  io.run();
}

// mcp-bench-stub: a fast MCP upstream for the benchmark harness, so the upstream is never what
// is measured. One thread, kept-alive HTTP/1.1 connections, a small fixed tool result.
//
// Speaks what the sidecar speaks to upstreams: Streamable HTTP with sessions (2025-03-26 ..
// 2025-11-25: `initialize` hands out an Mcp-Session-Id, DELETE ends it) and the stateless
// 2026-07-28 revision (`server/discover`). It is lenient on purpose: a tools/call is answered
// with or without a session, so the same request can be sent directly, through nginx and
// through the sidecar. Tools:
//   echo    answers at once with {"content":[{"type":"text","text":"ok"}]} (JSON, or one SSE
//           event when started with --sse)
//   stream  answers as an event stream: a notifications/progress event at once, the result
//           --stream-delay-ms later (the SSE first-event scenario)
// GET /stats answers {"calls": N, "sessions": N}: what the harness checks against the load
// generator's count, so no figure comes from calls that never reached the upstream.
//
//   mcp-bench-stub [--listen 127.0.0.1:0] [--sse] [--stream-delay-ms 50]
// Prints `listening PORT` on stdout once it accepts connections.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::ip::tcp;
using nlohmann::json;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  unsigned short port = 0;
  bool sse = false;
  int stream_delay_ms = 50;
};

struct Stats {
  unsigned long long calls = 0;
  unsigned long long sessions = 0;
};

Options options;
Stats stats;

constexpr std::string_view kServerInfo = R"({"name":"mcp-bench-stub","version":"1.0.0"})";
constexpr std::string_view kTools =
    R"({"tools":[{"name":"echo","description":"Answers ok at once.","inputSchema":{"type":"object"}},)"
    R"({"name":"stream","description":"A progress event at once, the result later.","inputSchema":{"type":"object"}}]})";
constexpr std::string_view kEchoResult = R"({"content":[{"type":"text","text":"ok"}],"isError":false})";

std::string envelope(const json& id, std::string_view result) {
  std::string out = R"({"jsonrpc":"2.0","id":)";
  out += id.dump();
  out += R"(,"result":)";
  out += result;
  out += '}';
  return out;
}

std::string sse_event(std::string_view data) {
  std::string out = "event: message\ndata: ";
  out += data;
  out += "\n\n";
  return out;
}

using Response = bhttp::response<bhttp::string_body>;

Response reply(unsigned version, bool keep_alive, bhttp::status status, std::string body = {},
               std::string_view content_type = "application/json") {
  Response res{status, version};
  res.set(bhttp::field::server, "mcp-bench-stub");
  if (!body.empty()) res.set(bhttp::field::content_type, content_type);
  res.body() = std::move(body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

// The answer to one request; for the `stream` tool only its id and progress token (write_stream
// writes the answer as an event stream).
struct Answer {
  Response response;
  bool stream = false;
  json id;
  json progress_token;
};

Answer answer(const bhttp::request<bhttp::string_body>& req) {
  const unsigned v = req.version();
  const bool ka = req.keep_alive();
  if (req.method() == bhttp::verb::get && req.target() == "/stats") {
    json s{{"calls", stats.calls}, {"sessions", stats.sessions}};
    return {reply(v, ka, bhttp::status::ok, s.dump())};
  }
  if (req.method() == bhttp::verb::delete_) return {reply(v, ka, bhttp::status::ok)};
  if (req.method() != bhttp::verb::post) return {reply(v, ka, bhttp::status::method_not_allowed)};

  json msg = json::parse(req.body(), nullptr, false);
  if (!msg.is_object() || !msg.contains("method"))
    return {reply(v, ka, bhttp::status::bad_request,
                  R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}})")};
  const std::string method = msg["method"].is_string() ? msg["method"].get<std::string>() : "";
  if (!msg.contains("id")) return {reply(v, ka, bhttp::status::accepted)};  // a notification
  const json& id = msg["id"];
  const json params = msg.value("params", json::object());

  if (method == "initialize") {
    ++stats.sessions;
    const std::string version = params.value("protocolVersion", "2025-11-25");
    json result{{"protocolVersion", version},
                {"capabilities", {{"tools", json::object()}}},
                {"serverInfo", json::parse(kServerInfo)}};
    Response res = reply(v, ka, bhttp::status::ok, envelope(id, result.dump()));
    res.set("Mcp-Session-Id", "bench-" + std::to_string(stats.sessions));
    return {std::move(res)};
  }
  if (method == "server/discover") {
    std::string result = R"({"supportedVersions":["2026-07-28"],"capabilities":{"tools":{}},"serverInfo":)";
    result += kServerInfo;
    result += R"(,"resultType":"complete"})";
    return {reply(v, ka, bhttp::status::ok, envelope(id, result))};
  }
  if (method == "ping") return {reply(v, ka, bhttp::status::ok, envelope(id, "{}"))};
  if (method == "tools/list") return {reply(v, ka, bhttp::status::ok, envelope(id, kTools))};
  if (method == "tools/call") {
    ++stats.calls;
    const std::string name = params.value("name", "");
    if (name == "stream") {
      json token = nullptr;
      if (auto meta = params.find("_meta"); meta != params.end() && meta->is_object())
        token = meta->value("progressToken", json());
      return {Response{}, true, id, token};
    }
    if (name != "echo")
      return {reply(v, ka, bhttp::status::ok,
                    R"({"jsonrpc":"2.0","id":)" + id.dump() + R"(,"error":{"code":-32602,"message":"unknown tool"}})")};
    if (options.sse)
      return {reply(v, ka, bhttp::status::ok, sse_event(envelope(id, kEchoResult)), "text/event-stream")};
    return {reply(v, ka, bhttp::status::ok, envelope(id, kEchoResult))};
  }
  return {reply(v, ka, bhttp::status::ok,
                R"({"jsonrpc":"2.0","id":)" + id.dump() + R"(,"error":{"code":-32601,"message":"method not found"}})")};
}

// The `stream` tool: headers and a progress event at once (chunked), the result after the delay.
asio::awaitable<void> write_stream(tcp::socket& socket, unsigned version, const Answer& a) {
  bhttp::response<bhttp::empty_body> head{bhttp::status::ok, version};
  head.set(bhttp::field::content_type, "text/event-stream");
  head.set(bhttp::field::cache_control, "no-cache");
  head.chunked(true);
  bhttp::response_serializer<bhttp::empty_body> sr{head};
  co_await bhttp::async_write_header(socket, sr, asio::use_awaitable);
  json progress{{"jsonrpc", "2.0"},
                {"method", "notifications/progress"},
                {"params",
                 {{"progressToken", a.progress_token.is_null() ? json("bench") : a.progress_token},
                  {"progress", 1},
                  {"total", 2}}}};
  const std::string first = sse_event(progress.dump());
  co_await asio::async_write(socket, bhttp::make_chunk(asio::buffer(first)), asio::use_awaitable);
  asio::steady_timer timer{socket.get_executor(), std::chrono::milliseconds(options.stream_delay_ms)};
  co_await timer.async_wait(asio::use_awaitable);
  const std::string last = sse_event(envelope(a.id, kEchoResult));
  co_await asio::async_write(socket, bhttp::make_chunk(asio::buffer(last)), asio::use_awaitable);
  co_await asio::async_write(socket, bhttp::make_chunk_last(), asio::use_awaitable);
}

asio::awaitable<void> serve(tcp::socket socket) {
  socket.set_option(tcp::no_delay(true));
  beast::flat_buffer buffer;
  for (;;) {
    bhttp::request<bhttp::string_body> req;
    auto [ec, n] = co_await bhttp::async_read(socket, buffer, req, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    Answer a = answer(req);
    if (a.stream) {
      auto [wec] = co_await asio::co_spawn(socket.get_executor(), write_stream(socket, req.version(), a),
                                           asio::as_tuple(asio::use_awaitable));
      if (wec) co_return;
      if (!req.keep_alive()) co_return;
      continue;
    }
    const bool keep = a.response.keep_alive();
    auto [wec, wn] = co_await bhttp::async_write(socket, a.response, asio::as_tuple(asio::use_awaitable));
    if (wec || !keep) co_return;
  }
}

asio::awaitable<void> accept(tcp::acceptor& acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) continue;
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket)), asio::detached);
  }
}

int usage() {
  std::fprintf(stderr, "usage: mcp-bench-stub [--listen HOST:PORT] [--sse] [--stream-delay-ms N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--sse") {
      options.sse = true;
    } else if (arg == "--listen" && i + 1 < argc) {
      const std::string value = argv[++i];
      const auto colon = value.rfind(':');
      if (colon == std::string::npos) return usage();
      options.host = value.substr(0, colon);
      options.port = static_cast<unsigned short>(std::stoi(value.substr(colon + 1)));
    } else if (arg == "--stream-delay-ms" && i + 1 < argc) {
      options.stream_delay_ms = std::stoi(argv[++i]);
    } else {
      return usage();
    }
  }
  asio::io_context io{1};
  tcp::acceptor acceptor{io, {asio::ip::make_address(options.host), options.port}};
  acceptor.listen(4096);
  asio::signal_set signals{io, SIGINT, SIGTERM};
  signals.async_wait([&](auto, int) { io.stop(); });
  asio::co_spawn(io, accept(acceptor), asio::detached);
  std::cout << "listening " << acceptor.local_endpoint().port() << std::endl;
  io.run();
}

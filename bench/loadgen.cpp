// mcp-bench-load: the benchmark harness's load generator. One thread, kept-alive HTTP/1.1
// connections, the same request bytes on every call; prints one JSON line of figures.
//
//   mcp-bench-load --target http://HOST:PORT/PATH [--connections 16] [--seconds 5]
//                  [--warmup-seconds 1] [--requests N] [--rate PER_SECOND]
//                  [--header 'Name: value']... [--body JSON | --body-file FILE]
//                  [--mode call|session-per-call|first-event] [--hold-seconds N]
//                  [--timeout-seconds 10]
//
// Modes:
//   call              POST the body, read the answer; a call counts when it is a 200 whose body
//                     holds a JSON-RPC result (or, for the REST API, any 200).
//   session-per-call  what MCP applications did before pooling: initialize,
//                     notifications/initialized, the tools/call (the body) with the session id,
//                     DELETE; latency is the whole sequence (the connection is kept alive).
//   first-event       POST the body (a call answered as an event stream) and measure the time
//                     to the first complete SSE event; the call still counts only once the
//                     stream ends with its result.
// Closed loop by default (each connection sends its next call when the answer arrives); with
// --rate the calls are scheduled at a fixed rate over the connections and latency is measured
// from the scheduled time (no coordinated omission). --hold-seconds keeps every connection open
// (idle) after the run, for memory measurements, and prints `holding` when they are all open.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

enum class Mode { call, session_per_call, first_event };

struct Options {
  std::string host;
  std::string port;
  std::string path;
  int connections = 16;
  double seconds = 5;
  double warmup_seconds = 1;
  long long requests = 0;  // 0: run for `seconds`
  double rate = 0;         // 0: closed loop
  double hold_seconds = 0;
  double timeout_seconds = 10;  // a call taking longer fails (its connection is closed)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  Mode mode = Mode::call;
};

struct Totals {
  long long ok = 0;
  long long errors = 0;
  long long started = 0;  // counted against --requests
  std::vector<std::int64_t> latency_ns;
  std::vector<std::int64_t> first_event_ns;
  int held = 0;  // connections open and idle under --hold-seconds
};

Options options;
Totals totals;
Clock::time_point measure_from;  // calls finishing before this are warm-up
Clock::time_point measure_until;
bool stopping = false;

using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;

Request make_request(bhttp::verb verb, std::string body, const std::string* session) {
  Request req{verb, options.path, 11};
  req.set(bhttp::field::host, options.host + ":" + options.port);
  req.set(bhttp::field::accept, "application/json, text/event-stream");
  for (const auto& [name, value] : options.headers) req.set(name, value);
  if (session) req.set("Mcp-Session-Id", *session);
  if (verb == bhttp::verb::post) req.set(bhttp::field::content_type, "application/json");
  req.body() = std::move(body);
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

// A JSON-RPC answer or a REST API result: a 2xx that is no JSON-RPC error.
bool good(const Response& res) {
  if (res.result_int() < 200 || res.result_int() > 299) return false;
  return res.body().find("\"error\":{") == std::string::npos;
}

asio::awaitable<bool> exchange(tcp::socket& socket, beast::flat_buffer& buffer, Request& req, Response& res) {
  auto [wec, wn] = co_await bhttp::async_write(socket, req, asio::as_tuple(asio::use_awaitable));
  if (wec) co_return false;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  auto [rec, rn] = co_await bhttp::async_read(socket, buffer, parser, asio::as_tuple(asio::use_awaitable));
  if (rec) co_return false;
  res = parser.release();
  co_return true;
}

// One call in `session-per-call` mode: the four requests an application without a pool sends.
asio::awaitable<bool> session_call(tcp::socket& socket, beast::flat_buffer& buffer) {
  static const std::string init =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
      R"("capabilities":{},"clientInfo":{"name":"mcp-bench-load","version":"1.0.0"}}})";
  static const std::string initialized = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";
  Response res;
  Request req = make_request(bhttp::verb::post, init, nullptr);
  if (!co_await exchange(socket, buffer, req, res) || !good(res)) co_return false;
  const std::string session{res["Mcp-Session-Id"]};
  if (session.empty()) co_return false;
  req = make_request(bhttp::verb::post, initialized, &session);
  if (!co_await exchange(socket, buffer, req, res) || res.result_int() != 202) co_return false;
  req = make_request(bhttp::verb::post, options.body, &session);
  if (!co_await exchange(socket, buffer, req, res) || !good(res)) co_return false;
  req = make_request(bhttp::verb::delete_, {}, &session);
  if (!co_await exchange(socket, buffer, req, res)) co_return false;
  co_return res.result_int() < 300 || res.result_int() == 405;
}

// One call in `first-event` mode: the time to the first "\n\n" in the body, then to its end.
asio::awaitable<bool> first_event_call(tcp::socket& socket, beast::flat_buffer& buffer, Request& req,
                                       Clock::time_point start, std::int64_t& first_ns) {
  auto [wec, wn] = co_await bhttp::async_write(socket, req, asio::as_tuple(asio::use_awaitable));
  if (wec) co_return false;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  first_ns = -1;
  while (!parser.is_done()) {
    auto [ec, n] = co_await bhttp::async_read_some(socket, buffer, parser, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return false;
    if (first_ns < 0 && parser.get().body().find("\n\n") != std::string::npos)
      first_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
  }
  co_return first_ns >= 0 && parser.get().result_int() == 200 &&
      parser.get().body().find("\"result\"") != std::string::npos;
}

asio::awaitable<std::optional<tcp::socket>> connect(tcp::resolver::results_type& endpoints) {
  tcp::socket socket{co_await asio::this_coro::executor};
  auto [ec, ep] = co_await asio::async_connect(socket, endpoints, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return std::nullopt;
  socket.set_option(tcp::no_delay(true));
  co_return std::move(socket);
}

bool take_request() {
  if (stopping) return false;
  if (options.requests > 0 && totals.started >= options.requests) return false;
  if (options.requests == 0 && Clock::now() >= measure_until) return false;
  ++totals.started;
  return true;
}

// One kept-alive connection and the deadline of the call under way on it.
struct Connection {
  std::optional<tcp::socket> socket;
  Clock::time_point deadline = Clock::time_point::max();
};
std::deque<Connection> connections;
int running = 0;  // connection coroutines not yet finished

// Closes every connection whose call is past its deadline: the call fails, the loop goes on.
asio::awaitable<void> watchdog() {
  asio::steady_timer timer{co_await asio::this_coro::executor};
  while (running > 0) {
    timer.expires_after(std::chrono::milliseconds(100));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    const auto now = Clock::now();
    for (auto& c : connections)
      if (c.socket && now > c.deadline) c.socket->close();
  }
}

asio::awaitable<void> connection(int index, tcp::resolver::results_type endpoints) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer{executor};
  auto& [socket, deadline] = connections[index];
  socket = co_await connect(endpoints);
  beast::flat_buffer buffer;
  Request req = make_request(bhttp::verb::post, options.body, nullptr);
  Response res;
  const auto interval =
      options.rate > 0 ? std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 * options.connections / options.rate))
                       : std::chrono::nanoseconds(0);
  // Spread the connections' schedules over one interval.
  auto next = Clock::now() + interval * index / std::max(1, options.connections);
  while (take_request()) {
    if (!socket) {
      socket = co_await connect(endpoints);
      if (!socket) {
        ++totals.errors;
        timer.expires_after(std::chrono::milliseconds(10));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      buffer.clear();
    }
    Clock::time_point start = Clock::now();
    if (options.rate > 0) {
      if (next > start) {
        timer.expires_at(next);
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      start = next;  // latency from when the call was due
      next += interval;
    }
    bool ok = false;
    std::int64_t first_ns = -1;
    deadline = Clock::now() +
               std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.timeout_seconds));
    switch (options.mode) {
      case Mode::call:
        ok = co_await exchange(*socket, buffer, req, res) && good(res);
        break;
      case Mode::session_per_call:
        ok = co_await session_call(*socket, buffer);
        break;
      case Mode::first_event:
        ok = co_await first_event_call(*socket, buffer, req, start, first_ns);
        break;
    }
    const auto end = Clock::now();
    deadline = Clock::time_point::max();
    if (!ok) {
      ++totals.errors;
      socket.reset();  // a fresh connection for the next call
      continue;
    }
    if (start < measure_from) continue;  // warm-up
    ++totals.ok;
    totals.latency_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
    if (first_ns >= 0) totals.first_event_ns.push_back(first_ns);
  }
  if (options.hold_seconds > 0 && socket) {
    // Keep the connection open, idle, while the harness measures the peer's memory.
    if (++totals.held == options.connections) std::cout << "holding" << std::endl;
    timer.expires_after(std::chrono::milliseconds(static_cast<int>(options.hold_seconds * 1000)));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  --running;
}

double percentile(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(std::min<double>(v.size() - 1, p / 100.0 * v.size()));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k] / 1000.0;  // microseconds
}

nlohmann::json summary(std::vector<std::int64_t>& v) {
  nlohmann::json s = nlohmann::json::object();
  if (v.empty()) return s;
  double sum = 0;
  for (auto x : v) sum += x;
  s["mean_us"] = sum / v.size() / 1000.0;
  for (auto [name, p] : {std::pair{"p50_us", 50.0}, {"p90_us", 90.0}, {"p99_us", 99.0}, {"p999_us", 99.9}})
    s[name] = percentile(v, p);
  s["max_us"] = *std::max_element(v.begin(), v.end()) / 1000.0;
  return s;
}

int usage() {
  std::fprintf(stderr,
               "usage: mcp-bench-load --target http://HOST:PORT/PATH [--connections N] [--seconds S]\n"
               "       [--warmup-seconds S] [--requests N] [--rate R] [--header 'K: V']... [--body JSON |\n"
               "       --body-file F] [--mode call|session-per-call|first-event] [--hold-seconds S]\n"
               "       [--timeout-seconds S]\n");
  return 2;
}

bool parse_target(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (!url.starts_with(scheme)) return false;
  url.remove_prefix(scheme.size());
  const auto slash = url.find('/');
  const std::string_view authority = url.substr(0, slash);
  options.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  const auto colon = authority.rfind(':');
  if (colon == std::string_view::npos) return false;
  options.host = authority.substr(0, colon);
  options.port = authority.substr(colon + 1);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bool have_target = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    auto value = [&] { return std::string(argv[++i]); };
    if (arg == "--target" && has_value) {
      have_target = parse_target(value());
      if (!have_target) return usage();
    } else if (arg == "--connections" && has_value) {
      options.connections = std::stoi(value());
    } else if (arg == "--seconds" && has_value) {
      options.seconds = std::stod(value());
    } else if (arg == "--warmup-seconds" && has_value) {
      options.warmup_seconds = std::stod(value());
    } else if (arg == "--requests" && has_value) {
      options.requests = std::stoll(value());
    } else if (arg == "--rate" && has_value) {
      options.rate = std::stod(value());
    } else if (arg == "--timeout-seconds" && has_value) {
      options.timeout_seconds = std::stod(value());
    } else if (arg == "--hold-seconds" && has_value) {
      options.hold_seconds = std::stod(value());
    } else if (arg == "--header" && has_value) {
      const std::string h = value();
      const auto colon = h.find(':');
      if (colon == std::string::npos) return usage();
      options.headers.emplace_back(h.substr(0, colon), h.substr(h.find_first_not_of(' ', colon + 1)));
    } else if (arg == "--body" && has_value) {
      options.body = value();
    } else if (arg == "--body-file" && has_value) {
      std::ifstream in{value()};
      options.body.assign(std::istreambuf_iterator<char>(in), {});
    } else if (arg == "--mode" && has_value) {
      const std::string m = value();
      if (m == "call")
        options.mode = Mode::call;
      else if (m == "session-per-call")
        options.mode = Mode::session_per_call;
      else if (m == "first-event")
        options.mode = Mode::first_event;
      else
        return usage();
    } else {
      return usage();
    }
  }
  if (!have_target || options.connections < 1) return usage();

  asio::io_context io{1};
  tcp::resolver resolver{io};
  auto endpoints = resolver.resolve(options.host, options.port);
  const auto begin = Clock::now();
  const auto to_duration = [](double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  };
  // With --requests there is no warm-up window: every call counts (callgrind uses this).
  measure_from = options.requests > 0 ? begin : begin + to_duration(options.warmup_seconds);
  measure_until = measure_from + to_duration(options.seconds);
  totals.latency_ns.reserve(1 << 20);
  connections.resize(options.connections);
  running = options.connections;
  for (int i = 0; i < options.connections; ++i) asio::co_spawn(io, connection(i, endpoints), asio::detached);
  asio::co_spawn(io, watchdog(), asio::detached);
  io.run();
  const double elapsed = options.requests > 0 ? std::chrono::duration<double>(Clock::now() - begin).count()
                                              : std::chrono::duration<double>(measure_until - measure_from).count();

  nlohmann::json out{{"connections", options.connections},
                     {"seconds", elapsed},
                     {"ok", totals.ok},
                     {"errors", totals.errors},
                     {"rps", totals.ok / elapsed},
                     {"latency", summary(totals.latency_ns)}};
  if (!totals.first_event_ns.empty()) out["first_event"] = summary(totals.first_event_ns);
  std::cout << out.dump() << std::endl;
  return totals.ok > 0 ? 0 : 1;
}

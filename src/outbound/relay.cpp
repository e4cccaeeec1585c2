#include "outbound/relay.hpp"

#include "mcp/jsonrpc.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>

namespace mcp_sidecar::outbound {

namespace bhttp = boost::beast::http;

namespace {

std::string event(const nlohmann::json& message) { return "event: message\ndata: " + message.dump() + "\n\n"; }

}  // namespace

asio::awaitable<void> Relay::run(std::shared_ptr<Relay> relay, http::Exchange& ex, unsigned version,
                                 asio::awaitable<Answer> work) {
  auto executor = co_await asio::this_coro::executor;
  asio::co_spawn(executor, std::move(work), [relay](std::exception_ptr failure, Answer answer) {
    if (failure) {
      answer = Answer{500, mcp::make_error(nullptr, mcp::kInternalError, "internal error"), {}};
    }
    relay->answer_ = std::move(answer);
    relay->wake_.notify_all();
  });

  bool streaming = false;
  bool client_here = true;
  for (;;) {
    while (!relay->outbox_.empty()) {
      auto message = std::move(relay->outbox_.front());
      relay->outbox_.pop_front();
      if (!client_here) continue;  // nobody to tell: the work still runs to its end
      if (!streaming) {
        http::StreamHead head{bhttp::status::ok, version};
        head.set(bhttp::field::content_type, "text/event-stream");
        head.set(bhttp::field::cache_control, "no-cache");
        for (const auto& [name, value] : relay->head_headers_) head.set(name, value);
        streaming = true;
        client_here = co_await ex.begin_stream(std::move(head));
        if (!client_here) continue;
      }
      client_here = co_await ex.write_chunk(event(message));
    }
    if (relay->answer_) break;
    // Woken by push() or by the answer; the work's own deadline bounds this wait.
    co_await relay->wake_.wait_until(Clock::now() + std::chrono::hours(1));
  }

  Answer& answer = *relay->answer_;
  if (streaming) {
    if (client_here && !answer.message.is_null()) co_await ex.write_chunk(event(answer.message));
    co_await ex.end_stream();
    co_return;
  }
  http::Response res = answer.message.is_null()
                           ? http::make_response(answer.status, std::string(), "application/json", version)
                           : http::make_json_response(answer.status, answer.message, version);
  for (const auto& [name, value] : answer.headers) res.set(name, value);
  co_await ex.respond(std::move(res));
}

}  // namespace mcp_sidecar::outbound

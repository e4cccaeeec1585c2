#include "outbound/relay.hpp"

#include "core/json_write.hpp"
#include "mcp/json_parse.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/sse_framer.hpp"

#include <boost/asio/co_spawn.hpp>

#include <exception>

namespace mcp_sidecar::outbound {

namespace bhttp = boost::beast::http;

void Relay::push(nlohmann::json message) {
  if (sink_) return sink_(std::move(message));
  if (!exchange_) return;  // the answer is out: nobody to tell
  outbox_.push_back(std::move(message));
  if (pumping_) return wake_.notify_all();
  // Most calls never push: the stream and its writer exist only for those that do.
  pumping_ = true;
  auto done = [self = shared_from_this()](std::exception_ptr) {
    self->pumping_ = false;
    self->wake_.notify_all();
  };
  asio::co_spawn(ex_, pump(shared_from_this()), std::move(done));
}

asio::awaitable<void> Relay::pump(std::shared_ptr<Relay> relay) {
  http::Exchange& ex = *relay->exchange_;
  http::StreamHead head{bhttp::status::ok, relay->version_};
  head.set(bhttp::field::content_type, "text/event-stream");
  head.set(bhttp::field::cache_control, "no-cache");
  for (const auto& [name, value] : relay->head_headers_) head.set(name, value);
  bool client_here = co_await ex.begin_stream(std::move(head));
  for (;;) {
    while (!relay->outbox_.empty()) {
      auto messages = std::exchange(relay->outbox_, {});
      // Without a client the messages are dropped: the work still runs to its end.
      for (const auto& message : messages)
        if (client_here) client_here = co_await ex.write_chunk(mcp::message_event(message));
    }
    if (relay->answer_) break;
    // Woken by push() or by the answer; the work's own deadline bounds this wait.
    co_await relay->wake_.wait_until(Clock::now() + std::chrono::hours(1));
  }
  Answer& answer = *relay->answer_;
  if (client_here && !answer.message.is_null()) co_await ex.write_chunk(mcp::message_event(answer.message));
  co_await ex.end_stream();
  answer.call.reset();  // recorded now that it is answered
}

asio::awaitable<void> Relay::run(std::shared_ptr<Relay> relay, http::Exchange& ex, unsigned version,
                                 asio::awaitable<Answer> work) {
  relay->exchange_ = &ex;
  relay->version_ = version;
  Answer answer;
  try {
    answer = co_await std::move(work);
  } catch (...) {  // a bug in the work: its client gets an error, the sidecar goes on
    answer = Answer{500, mcp::make_error(nullptr, mcp::kInternalError, "internal error"), {}};
  }
  relay->answer_ = std::move(answer);
  if (relay->pumping_) {
    // The stream is open: its writer ends it with the answer, and the exchange is in use till then.
    relay->wake_.notify_all();
    while (relay->pumping_) co_await relay->wake_.wait_until(Clock::now() + std::chrono::hours(1));
    relay->exchange_ = nullptr;
    co_return;
  }
  relay->exchange_ = nullptr;
  Answer& a = *relay->answer_;
  const std::string body = a.message.is_null() ? std::string() : dump_json(a.message, JsonErrors::replace);
  mcp::dispose(a.message);  // written out: its bytes are all the client needs
  co_await ex.respond(a.status, "application/json", body, a.headers);
  a.call.reset();  // recorded now that it is answered
}

}  // namespace mcp_sidecar::outbound

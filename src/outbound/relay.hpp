// One MCP endpoint request being answered. The work that produces the answer runs in the
// request's coroutine; what the server sends on the way (progress, log messages, questions for
// the client) starts a pump beside it that passes those on: the answer is a single JSON response
// when nothing came first, else an event stream of those messages ending with the response (both
// are allowed by every revision that has the endpoint). Single-threaded.
#pragma once

#include "core/async.hpp"
#include "http/server.hpp"
#include "telemetry/call_recorder.hpp"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mcp_sidecar::outbound {

// What the work ends with: the HTTP status and JSON-RPC message it would answer alone (a null
// message: 202 with no body), and headers for the response (Retry-After, the case id).
struct Answer {
  unsigned status = 200;
  nlohmann::json message;
  http::Exchange::Fields headers;
  // The call it answers, ended (CallRecorder::end) and recorded once the answer is written.
  std::unique_ptr<CallRecorder> call;
};

class Relay : public std::enable_shared_from_this<Relay> {
 public:
  explicit Relay(asio::any_io_executor ex) : ex_(ex), wake_(ex) {}
  // A relay for a client whose messages all travel on one event stream of its own (HTTP+SSE):
  // each message goes to `sink` as it comes.
  Relay(asio::any_io_executor ex, std::function<void(nlohmann::json)> sink)
      : ex_(ex), wake_(ex), sink_(std::move(sink)) {}

  // A message for the client before the answer: opens the event stream (dropped once the
  // answer is out).
  void push(nlohmann::json message);
  // Headers the stream's head carries when it opens before the answer (the case id).
  void set_header(std::string name, std::string value) {
    head_headers_.emplace_back(std::move(name), std::move(value));
  }

  // Runs `work` to its answer, passing on what was pushed meanwhile, then answers. The work is
  // bounded by its own deadline; the relay waits for it whatever the client does.
  static asio::awaitable<void> run(std::shared_ptr<Relay> relay, http::Exchange& ex, unsigned version,
                                   asio::awaitable<Answer> work);

 private:
  // Writes the event stream from the first push to the answer, beside the work.
  static asio::awaitable<void> pump(std::shared_ptr<Relay> relay);

  asio::any_io_executor ex_;
  http::Exchange* exchange_ = nullptr;  // the client's, while run() runs
  unsigned version_ = 11;
  bool pumping_ = false;  // the event stream is open: pump() answers
  std::vector<nlohmann::json> outbox_;
  Notifier wake_;
  std::function<void(nlohmann::json)> sink_;
  std::vector<std::pair<std::string, std::string>> head_headers_;
  std::optional<Answer> answer_;
};

}  // namespace mcp_sidecar::outbound

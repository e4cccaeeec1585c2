// One MCP endpoint request being answered. The work that produces the answer runs beside a
// pump that passes on what the server sends on the way (progress, log messages, questions for
// the client): the answer is a single JSON response when nothing came first, else an event
// stream of those messages ending with the response (both are allowed by every revision that
// has the endpoint). Single-threaded.
#pragma once

#include "core/async.hpp"
#include "http/server.hpp"

#include <nlohmann/json.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace mcp_sidecar::outbound {

// What the work ends with: the HTTP status and JSON-RPC message it would answer alone (a null
// message: 202 with no body), and headers for the response (Retry-After, the case id).
struct Answer {
  unsigned status = 200;
  nlohmann::json message;
  std::vector<std::pair<std::string, std::string>> headers;
};

class Relay {
 public:
  explicit Relay(asio::any_io_executor ex) : wake_(ex) {}
  // A relay for a client whose messages all travel on one event stream of its own (HTTP+SSE):
  // each message goes to `sink` as it comes.
  Relay(asio::any_io_executor ex, std::function<void(nlohmann::json)> sink) : wake_(ex), sink_(std::move(sink)) {}

  // A message for the client before the answer: opens the event stream.
  void push(nlohmann::json message) {
    if (sink_) return sink_(std::move(message));
    outbox_.push_back(std::move(message));
    wake_.notify_all();
  }
  // Headers the stream's head carries when it opens before the answer (the case id).
  void set_header(std::string name, std::string value) {
    head_headers_.emplace_back(std::move(name), std::move(value));
  }

  // Runs `work` to its answer, passing on what was pushed meanwhile, then answers. The work is
  // bounded by its own deadline; the relay waits for it whatever the client does.
  static asio::awaitable<void> run(std::shared_ptr<Relay> relay, http::Exchange& ex, unsigned version,
                                   asio::awaitable<Answer> work);

 private:
  std::deque<nlohmann::json> outbox_;
  Notifier wake_;
  std::function<void(nlohmann::json)> sink_;
  std::vector<std::pair<std::string, std::string>> head_headers_;
  std::optional<Answer> answer_;
};

}  // namespace mcp_sidecar::outbound

// A scripted UpstreamSession for pool tests: opens succeed or fail as the script says, and
// every open/close is counted. No sockets.
#pragma once

#include "outbound/session.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <deque>

namespace mcp_sidecar::fakes {

struct SessionScript {
  std::deque<bool> open_results;  // consumed per open; empty = succeed
  bool fail_all = false;
  milliseconds open_delay{0};
  int opens = 0;
  int closes = 0;
};

class FakeSession final : public outbound::UpstreamSession {
 public:
  explicit FakeSession(SessionScript& script, int serial) : script_(script), serial_(serial) {}

  asio::awaitable<Result<void>> open(TimePoint deadline) override {
    ++script_.opens;
    if (script_.open_delay.count() > 0) {
      asio::steady_timer t(co_await asio::this_coro::executor, std::min(deadline, Clock::now() + script_.open_delay));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      if (Clock::now() >= deadline) co_return make_error(ErrorCode::timeout, "open timed out");
    }
    bool ok = !script_.fail_all;
    if (!script_.open_results.empty()) {
      ok = script_.open_results.front();
      script_.open_results.pop_front();
    }
    if (!ok) co_return make_error(ErrorCode::unavailable, "connection refused");
    info_.protocol_version = "2025-11-25";
    co_return Result<void>{};
  }
  asio::awaitable<Result<outbound::json>> request(std::string_view, const outbound::json&,
                                                  const outbound::RpcOptions&) override {
    co_return outbound::json{{"jsonrpc", "2.0"}, {"id", 1}, {"result", {{"serial", serial_}}}};
  }
  asio::awaitable<Result<void>> notify(std::string_view, const outbound::json&, TimePoint) override {
    co_return Result<void>{};
  }
  asio::awaitable<void> close(TimePoint) override {
    ++script_.closes;
    co_return;
  }
  bool alive() const override { return alive_; }
  std::string_view failure_reason() const override { return "session_gone"; }
  const outbound::SessionInfo& info() const override { return info_; }

  int serial() const { return serial_; }
  void kill() { alive_ = false; }

 private:
  SessionScript& script_;
  int serial_;
  bool alive_ = true;
  outbound::SessionInfo info_;
};

}  // namespace mcp_sidecar::fakes

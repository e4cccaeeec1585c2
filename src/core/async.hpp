// Small building blocks for coroutines on one event loop: the clock, and a Notifier that lets
// coroutines wait for "something changed" with a deadline. Not thread-safe: use on one executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <list>

namespace mcp_sidecar {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using std::chrono::milliseconds;

// Waiters park on a timer set to their deadline; notify_all() wakes every waiter. The owner must
// outlive its waiters (call notify_all() before destroying it while coroutines may wait).
class Notifier {
 public:
  explicit Notifier(asio::any_io_executor ex) : ex_(std::move(ex)) {}
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // True when woken by notify_all(), false when the deadline passed or the wait was cancelled.
  asio::awaitable<bool> wait_until(TimePoint deadline);
  void notify_all();
  std::size_t waiters() const { return waiters_.size(); }

 private:
  struct Waiter {
    asio::steady_timer timer;
    bool notified = false;
  };
  asio::any_io_executor ex_;
  std::list<Waiter*> waiters_;
};

// Sleeps for `d` on the current executor (false if cancelled).
asio::awaitable<bool> sleep_for(Clock::duration d);

}  // namespace mcp_sidecar

#include "core/async.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace mcp_sidecar {

asio::awaitable<bool> Notifier::wait_until(TimePoint deadline) {
  Waiter w{asio::steady_timer(ex_, deadline)};
  auto it = waiters_.insert(waiters_.end(), &w);
  co_await w.timer.async_wait(asio::as_tuple(asio::use_awaitable));
  waiters_.erase(it);
  co_return w.notified;
}

void Notifier::notify_all() {
  for (Waiter* w : waiters_) {
    w->notified = true;
    w->timer.cancel();
  }
}

asio::awaitable<bool> sleep_for(Clock::duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

}  // namespace mcp_sidecar

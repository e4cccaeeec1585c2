#include "outbound/session_pool.hpp"

#include "fakes/fake_session.hpp"

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <exception>

namespace mcp_sidecar::outbound {
namespace {

// ASSERT_* returns, which a coroutine cannot: fail and co_return instead.
#define CO_ASSERT(cond)                   \
  if (!(cond)) {                          \
    ADD_FAILURE() << "assertion: " #cond; \
    co_return;                            \
  }

using fakes::FakeSession;
using fakes::SessionScript;

// Runs a test body as a coroutine on its own event loop, to completion.
template <class F>
void run(F&& body) {
  asio::io_context ioc;
  std::exception_ptr failure;
  asio::co_spawn(ioc, std::forward<F>(body)(ioc.get_executor()), [&](std::exception_ptr e) { failure = e; });
  ioc.run();
  if (failure) std::rethrow_exception(failure);
}

struct PoolFixture {
  SessionScript script;
  std::vector<milliseconds> sleeps;
  int made = 0;
  std::vector<std::shared_ptr<FakeSession>> sessions;

  SessionPool make(asio::any_io_executor ex, int size,
                   config::RetryConfig retry = {5, milliseconds(100), milliseconds(5000)}) {
    SessionPool::Hooks hooks;
    hooks.random = [] { return 0.5; };
    hooks.sleep = [this](milliseconds d) -> asio::awaitable<void> {
      sleeps.push_back(d);
      co_return;
    };
    return SessionPool(
        ex, {"test", size, retry, milliseconds(1000)},
        [this] {
          auto s = std::make_shared<FakeSession>(script, made++);
          sessions.push_back(s);
          return s;
        },
        nullptr, hooks);
  }
};

int serial_of(const std::shared_ptr<PooledSession>& p) { return static_cast<FakeSession&>(*p->session).serial(); }
TimePoint in(int ms) { return Clock::now() + milliseconds(ms); }

TEST(SessionPool, OpensNothingUntilTheFirstCallThenFillsEverySlot) {
  PoolFixture f;
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto pool = f.make(ex, 3);
    EXPECT_EQ(f.script.opens, 0);
    auto s = co_await pool.acquire(in(1000));
    EXPECT_TRUE(s);
    // Every slot was asked to open by that first call.
    EXPECT_EQ(f.made, 3);
    co_await pool.close(in(1000));
  });
}

TEST(SessionPool, RoundRobinOverReadySessions) {
  PoolFixture f;
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto pool = f.make(ex, 3);
    auto first = co_await pool.acquire(in(1000));
    EXPECT_TRUE(first);
    // Wait until all three are ready (each open completes on the loop).
    while (pool.ready_count() < 3) co_await sleep_for(milliseconds(1));
    std::vector<std::size_t> slots;
    for (int i = 0; i < 6; ++i) {
      auto s = co_await pool.acquire(in(1000));
      slots.push_back(s.value()->slot);
    }
    EXPECT_NE(slots[0], slots[1]);
    EXPECT_NE(slots[1], slots[2]);
    EXPECT_NE(slots[0], slots[2]);
    EXPECT_EQ(slots[0], slots[3]);
    EXPECT_EQ(slots[1], slots[4]);
    EXPECT_EQ(slots[2], slots[5]);
    co_await pool.close(in(1000));
  });
}

TEST(SessionPool, BackoffScheduleIsExactWithInjectedRandomness) {
  PoolFixture f;
  f.script.fail_all = true;
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto pool = f.make(ex, 1, {4, milliseconds(100), milliseconds(1000)});
    auto s = co_await pool.acquire(in(5000));
    CO_ASSERT(!s);
    EXPECT_EQ(s.error().code, ErrorCode::unavailable);
    EXPECT_EQ(s.error().retry_after_seconds, 1);
    // Four attempts, full jitter at u=0.5 between them: 50, 100, 200 ms; none after the last.
    EXPECT_EQ(f.script.opens, 4);
    CO_ASSERT(f.sleeps.size() == 3u);
    EXPECT_EQ(f.sleeps[0], milliseconds(50));
    EXPECT_EQ(f.sleeps[1], milliseconds(100));
    EXPECT_EQ(f.sleeps[2], milliseconds(200));
    co_await pool.close(in(1000));
  });
}

TEST(SessionPool, UnavailableFailsFastAndTheNextCallStartsANewCycle) {
  PoolFixture f;
  f.script.fail_all = true;
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto pool = f.make(ex, 1, {2, milliseconds(10), milliseconds(20)});
    auto first = co_await pool.acquire(in(5000));
    EXPECT_FALSE(first);
    EXPECT_TRUE(pool.unavailable());
    EXPECT_EQ(f.script.opens, 2);

    // The server is back. The next call still fails fast (no queueing) but starts a cycle.
    f.script.fail_all = false;
    auto t0 = Clock::now();
    auto second = co_await pool.acquire(in(5000));
    EXPECT_FALSE(second);
    EXPECT_EQ(second.error().code, ErrorCode::unavailable);
    EXPECT_LT(Clock::now() - t0, milliseconds(500));
    while (pool.unavailable()) co_await sleep_for(milliseconds(1));
    auto third = co_await pool.acquire(in(5000));
    EXPECT_TRUE(third);
    EXPECT_EQ(f.script.opens, 3);
    co_await pool.close(in(1000));
  });
}

TEST(SessionPool, RecoversAfterTransientOpenFailures) {
  PoolFixture f;
  f.script.open_results = {false, false};
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto pool = f.make(ex, 1);
    auto s = co_await pool.acquire(in(5000));
    EXPECT_TRUE(s);
    EXPECT_EQ(f.script.opens, 3);
    EXPECT_EQ(f.sleeps.size(), 2u);
    co_await pool.close(in(1000));
  });
}

TEST(SessionPool, EvictionReplacesTheSessionInTheBackground) {
  PoolFixture f;
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto pool = f.make(ex, 1);
    auto s = co_await pool.acquire(in(1000));
    EXPECT_EQ(serial_of(s.value()), 0);
    pool.evict(s.value(), "session_gone");
    pool.evict(s.value(), "session_gone");  // a second eviction of the same session is a no-op
    auto t = co_await pool.acquire(in(1000));
    EXPECT_TRUE(t);
    EXPECT_EQ(serial_of(t.value()), 1);
    EXPECT_EQ(f.made, 2);
    co_await pool.close(in(1000));
    EXPECT_EQ(f.script.closes, 2);  // the evicted one and the replacement
  });
}

TEST(SessionPool, AnUnreachableUpstreamFailsFastUntilANewCycleOpensASession) {
  PoolFixture f;
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto pool = f.make(ex, 2);
    const Error why = make_error(ErrorCode::unavailable, "upstream connect timed out");
    pool.mark_unreachable(why);  // before the first call: nothing to take out of rotation
    EXPECT_FALSE(pool.unavailable());
    (void)co_await pool.acquire(in(1000));
    while (pool.ready_count() < 2) co_await sleep_for(milliseconds(1));

    f.script.open_delay = milliseconds(5);  // the next cycle's opens take a while
    pool.mark_unreachable(why);
    EXPECT_TRUE(pool.unavailable());
    EXPECT_EQ(pool.ready_count(), 0u);
    auto t0 = Clock::now();
    auto fast = co_await pool.acquire(in(5000));
    CO_ASSERT(!fast);
    EXPECT_LT(Clock::now() - t0, milliseconds(100));
    EXPECT_EQ(fast.error().code, ErrorCode::unavailable);
    EXPECT_EQ(fast.error().message, "upstream unavailable: upstream connect timed out");
    EXPECT_EQ(fast.error().retry_after_seconds, 5);  // the backoff cap, rounded up

    // That call started a new cycle: the pool is whole again, the sessions taken out closed.
    while (pool.unavailable()) co_await sleep_for(milliseconds(1));
    EXPECT_TRUE(co_await pool.acquire(in(1000)));
    EXPECT_EQ(f.made, 4);
    EXPECT_EQ(f.script.closes, 2);
    co_await pool.close(in(1000));
  });
}

TEST(SessionPool, ASessionOpeningRestartsTheSlotsThatGaveUp) {
  PoolFixture f;
  f.script.open_results = {false, true};  // the first slot gives up, the second opens
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto pool = f.make(ex, 2, {1, milliseconds(1), milliseconds(1)});
    EXPECT_TRUE(co_await pool.acquire(in(1000)));
    // No heartbeat and no further call: the success alone brings the first slot back.
    for (int i = 0; i < 100 && pool.ready_count() < 2; ++i) co_await sleep_for(milliseconds(1));
    EXPECT_EQ(pool.ready_count(), 2u);
    EXPECT_EQ(f.script.opens, 3);
    co_await pool.close(in(1000));
  });
}

TEST(SessionPool, CallTimesOutWhileSessionsAreStillOpening) {
  PoolFixture f;
  f.script.open_delay = milliseconds(300);
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto pool = f.make(ex, 1);
    auto t0 = Clock::now();
    auto s = co_await pool.acquire(in(50));
    EXPECT_FALSE(s);
    EXPECT_EQ(s.error().code, ErrorCode::timeout);
    EXPECT_GE(Clock::now() - t0, milliseconds(50));
    EXPECT_LT(Clock::now() - t0, milliseconds(290));
    co_await pool.close(in(1000));
  });
}

TEST(SessionPool, CloseEndsEverySessionAndRefusesNewCalls) {
  PoolFixture f;
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto pool = f.make(ex, 2);
    (void)co_await pool.acquire(in(1000));
    while (pool.ready_count() < 2) co_await sleep_for(milliseconds(1));
    co_await pool.close(in(1000));
    EXPECT_EQ(f.script.closes, 2);
    auto s = co_await pool.acquire(in(1000));
    EXPECT_FALSE(s);
    EXPECT_EQ(s.error().code, ErrorCode::cancelled);
  });
}

TEST(SessionPool, RefillRestartsFailedSlotsOnlyAfterTheFirstCall) {
  PoolFixture f;
  f.script.fail_all = true;
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto pool = f.make(ex, 1, {1, milliseconds(1), milliseconds(1)});
    pool.refill();  // the heartbeat before any call: nothing to do (lazy)
    EXPECT_EQ(f.script.opens, 0);
    EXPECT_FALSE(co_await pool.acquire(in(1000)));
    EXPECT_EQ(f.script.opens, 1);
    f.script.fail_all = false;
    pool.refill();  // the heartbeat starts a new cycle
    while (pool.ready_count() < 1) co_await sleep_for(milliseconds(1));
    EXPECT_EQ(f.script.opens, 2);
    EXPECT_FALSE(pool.unavailable());
    co_await pool.close(in(1000));
  });
}

TEST(SessionPool, IdleSessionsAreThoseWithoutCallsForTheInterval) {
  PoolFixture f;
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto pool = f.make(ex, 2);
    (void)co_await pool.acquire(in(1000));
    while (pool.ready_count() < 2) co_await sleep_for(milliseconds(1));
    EXPECT_TRUE(pool.idle_sessions(milliseconds(60'000)).empty());  // both just opened
    auto all = pool.idle_sessions(milliseconds(0));
    EXPECT_EQ(all.size(), 2u);
    all[0]->inflight = 1;  // carrying a call: the heartbeat leaves it alone
    EXPECT_EQ(pool.idle_sessions(milliseconds(0)).size(), 1u);
    all[0]->inflight = 0;
    co_await pool.close(in(1000));
  });
}

}  // namespace
}  // namespace mcp_sidecar::outbound

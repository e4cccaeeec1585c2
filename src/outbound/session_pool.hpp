// A pool of N sessions to one upstream: lazy fill on first use, round-robin over ready
// sessions, eviction with a replacement opened in the background, exponential backoff with full
// jitter between failed opens, and "unavailable" (fail fast, Retry-After) once a fill cycle has
// used up its attempts or the upstream is found unreachable; the next acquire starts a new
// cycle, so the pool is never dead for good.
// Randomness and the backoff wait are injected so tests are exact. Single-threaded.
#pragma once

#include "config/config.hpp"
#include "outbound/session.hpp"
#include "telemetry/log.hpp"

#include <vector>

namespace mcp_sidecar {
class Metrics;
}

namespace mcp_sidecar::outbound {

// Full jitter: uniform in [0, min(max_delay, base_delay * 2^(attempt-1))], attempt >= 1.
milliseconds backoff_delay(int attempt, const config::RetryConfig& retry, double uniform01);

// A session handed out by the pool; counts the calls it carries (for /debug/pools).
struct PooledSession {
  std::shared_ptr<UpstreamSession> session;
  std::size_t slot = 0;
  TimePoint opened_at{};
  TimePoint last_used{};  // start or end of the last call (or heartbeat) it carried
  int inflight = 0;
  std::uint64_t calls = 0;
};

class SessionPool {
 public:
  struct Options {
    std::string server;  // for metrics and logs
    int size = 2;
    config::RetryConfig retry;
    milliseconds open_timeout{5000};
  };
  struct Hooks {
    std::function<double()> random;                            // uniform in [0, 1)
    std::function<asio::awaitable<void>(milliseconds)> sleep;  // default: a cancellable timer
  };

  SessionPool(asio::any_io_executor ex, Options options, SessionFactory factory, Metrics* metrics, Hooks hooks = {});
  ~SessionPool();
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;

  // A ready session (round-robin), filling the pool on first use and waiting up to `deadline`.
  // Errors: unavailable (fail fast, retry_after_seconds set), timeout, cancelled (closing).
  asio::awaitable<Result<std::shared_ptr<PooledSession>>> acquire(TimePoint deadline);
  // The ready session acquire() would return at once (round-robin), without suspending; null
  // when acquire() would have to fill the pool, wait or fail.
  std::shared_ptr<PooledSession> take_ready();

  // Takes a session out of rotation (if still in it) and opens a replacement in the background.
  void evict(const std::shared_ptr<PooledSession>& session, std::string_view reason);
  // The upstream cannot be reached (its connections keep failing, `why`): the ready sessions
  // leave rotation and the pool is unavailable, as if every fill cycle had used up its
  // attempts, until a new cycle (the next call, or the heartbeat) opens a session. Fill cycles
  // under way run on. No-op before the first call.
  void mark_unreachable(const Error& why);

  // Stops refills and closes every session (DELETE), waiting up to `deadline`.
  asio::awaitable<void> close(TimePoint deadline);

  // Ready sessions that carried nothing for at least `idle_for`: what the heartbeat exercises.
  std::vector<std::shared_ptr<PooledSession>> idle_sessions(milliseconds idle_for) const;
  // The heartbeat's share of "the next call or heartbeat starts a new cycle": slots whose
  // cycle ended (failed) or that are empty start opening again. No-op before the first call.
  void refill();
  bool started() const { return started_; }
  bool unavailable() const { return unavailable_; }
  std::size_t size() const { return slots_.size(); }
  std::size_t ready_count() const;
  nlohmann::json debug() const;

 private:
  enum class SlotState { empty, opening, backoff, ready, failed };
  struct Slot {
    SlotState state = SlotState::empty;
    std::shared_ptr<PooledSession> pooled;
    int attempts = 0;
    std::optional<Error> last_error;  // of the last failed open in this cycle
    TimePoint failed_at{};
  };

  void start_fill(std::size_t slot);
  // Takes the slot's session out of rotation: counted, and closed in the background.
  void retire(std::size_t slot, std::string_view reason);
  asio::awaitable<void> fill(std::size_t slot);
  asio::awaitable<void> backoff_sleep(milliseconds delay);
  void update_gauges();
  int retry_after_seconds() const;

  asio::any_io_executor ex_;
  Options options_;
  SessionFactory factory_;
  Metrics* metrics_;
  Hooks hooks_;
  std::vector<Slot> slots_;
  std::size_t next_ = 0;
  bool started_ = false;
  bool unavailable_ = false;
  bool closing_ = false;
  int tasks_ = 0;     // fill and close coroutines running
  Notifier changed_;  // a slot changed state, or the pool is closing
  Notifier closed_;   // wakes backoff sleeps when the pool closes
  log::RateLimited warnings_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace mcp_sidecar::outbound

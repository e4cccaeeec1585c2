#include "outbound/session_pool.hpp"

#include "telemetry/metrics.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <algorithm>
#include <cmath>
#include <random>

namespace mcp_sidecar::outbound {

namespace {
std::string_view state_name(int s) {
  static constexpr std::string_view kNames[] = {"empty", "opening", "backoff", "ready", "failed"};
  return kNames[s];
}

double seconds_since(TimePoint t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Open failures where the server answered and refused, as opposed to being unreachable.
bool refused(ErrorCode code) {
  switch (code) {
    case ErrorCode::upstream_protocol:
    case ErrorCode::upstream_rpc_error:
    case ErrorCode::upstream_version_unsupported:
    case ErrorCode::upstream_header_mismatch:
    case ErrorCode::upstream_capability_required:
      return true;
    default:
      return false;
  }
}
}  // namespace

milliseconds backoff_delay(int attempt, const config::RetryConfig& retry, double uniform01) {
  double cap = static_cast<double>(retry.base_delay.count()) * std::pow(2.0, std::max(0, attempt - 1));
  cap = std::min(cap, static_cast<double>(retry.max_delay.count()));
  return milliseconds(static_cast<long long>(std::clamp(uniform01, 0.0, 1.0) * cap));
}

SessionPool::SessionPool(asio::any_io_executor ex, Options options, SessionFactory factory, Metrics* metrics,
                         Hooks hooks)
    : ex_(ex),
      options_(std::move(options)),
      factory_(std::move(factory)),
      metrics_(metrics),
      hooks_(std::move(hooks)),
      slots_(static_cast<std::size_t>(std::max(1, options_.size))),
      changed_(ex),
      closed_(ex) {
  if (!hooks_.random) {
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    hooks_.random = [rng] { return std::uniform_real_distribution<double>(0.0, 1.0)(*rng); };
  }
  update_gauges();
}

SessionPool::~SessionPool() {
  *alive_ = false;
  changed_.notify_all();
  closed_.notify_all();
}

std::size_t SessionPool::ready_count() const {
  return static_cast<std::size_t>(
      std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.state == SlotState::ready; }));
}

int SessionPool::retry_after_seconds() const {
  return std::max<int>(1, static_cast<int>((options_.retry.max_delay.count() + 999) / 1000));
}

void SessionPool::update_gauges() {
  if (!metrics_) return;
  int counts[5] = {};
  for (const auto& s : slots_) ++counts[static_cast<int>(s.state)];
  for (int st = 1; st < 5; ++st)
    metrics_->pool_sessions.Add({{"server", options_.server}, {"state", std::string(state_name(st))}}).Set(counts[st]);
}

void SessionPool::start_fill(std::size_t slot) {
  auto& s = slots_[slot];
  if (closing_ || s.state == SlotState::opening || s.state == SlotState::backoff || s.state == SlotState::ready) return;
  s.state = SlotState::opening;
  s.attempts = 0;
  ++tasks_;
  asio::co_spawn(ex_, fill(slot), asio::detached);
}

asio::awaitable<void> SessionPool::fill(std::size_t i) {
  auto alive = alive_;
  for (;;) {
    ++slots_[i].attempts;
    update_gauges();
    auto session = factory_();
    auto opened = co_await session->open(Clock::now() + options_.open_timeout);
    if (!*alive) co_return;
    auto& slot = slots_[i];
    if (closing_) {
      if (opened) co_await session->close(Clock::now() + std::chrono::seconds(1));
      slot.state = SlotState::empty;
      break;
    }
    if (opened) {
      if (metrics_) metrics_->session_opens_total.Add({{"server", options_.server}, {"outcome", "ok"}}).Increment();
      slot.state = SlotState::ready;
      const auto now = Clock::now();
      slot.pooled = std::make_shared<PooledSession>(PooledSession{session, i, now, now});
      session->on_lost([this, alive, pooled = std::weak_ptr<PooledSession>(slot.pooled)] {
        if (!*alive || closing_) return;
        if (auto p = pooled.lock()) evict(p, p->session->failure_reason());
      });
      slot.attempts = 0;
      slot.last_error.reset();
      if (unavailable_) log::info("upstream_available", {{"server", options_.server}});
      unavailable_ = false;
      log::debug("session_opened",
                 {{"server", options_.server}, {"slot", i}, {"protocol_version", session->info().protocol_version}});
      // The upstream answers again: slots whose cycle gave up try again now, not at the next
      // heartbeat (there may be none) or the next call that finds nothing ready.
      for (std::size_t j = 0; j < slots_.size(); ++j)
        if (slots_[j].state == SlotState::failed) start_fill(j);
      break;
    }
    if (metrics_) metrics_->session_opens_total.Add({{"server", options_.server}, {"outcome", "error"}}).Increment();
    slot.last_error = opened.error();
    warnings_.warn("open:" + options_.server, "session_open_failed",
                   {{"server", options_.server}, {"attempt", slot.attempts}, {"error", slot.last_error->message}});
    if (slot.attempts >= options_.retry.max_attempts) {
      slot.state = SlotState::failed;
      slot.failed_at = Clock::now();
      bool all_failed = std::all_of(slots_.begin(), slots_.end(), [](const Slot& s) {
        return s.state == SlotState::failed || s.state == SlotState::empty;
      });
      if (all_failed && !unavailable_) {
        unavailable_ = true;
        log::warn("upstream_unavailable",
                  {{"server", options_.server}, {"attempts", slot.attempts}, {"error", slot.last_error->message}});
      }
      break;
    }
    slot.state = SlotState::backoff;
    update_gauges();
    auto delay = backoff_delay(slot.attempts, options_.retry, hooks_.random());
    if (hooks_.sleep)
      co_await hooks_.sleep(delay);
    else
      co_await backoff_sleep(delay);
    if (!*alive) co_return;
    if (closing_) {
      slots_[i].state = SlotState::empty;
      break;
    }
    slots_[i].state = SlotState::opening;
  }
  --tasks_;
  update_gauges();
  changed_.notify_all();
}

asio::awaitable<void> SessionPool::backoff_sleep(milliseconds delay) {
  co_await closed_.wait_until(Clock::now() + delay);
}

std::shared_ptr<PooledSession> SessionPool::take_ready() {
  const std::size_t n = slots_.size();
  if (closing_ || !started_) return nullptr;
  for (std::size_t k = 0; k < n; ++k) {
    auto& s = slots_[(next_ + k) % n];
    if (s.state == SlotState::ready) {
      next_ = (next_ + k + 1) % n;
      return s.pooled;
    }
  }
  return nullptr;
}

asio::awaitable<Result<std::shared_ptr<PooledSession>>> SessionPool::acquire(TimePoint deadline) {
  // Only a call that finds the pool already unavailable starts a new cycle: not one that
  // waited through (or itself started) the cycle that just failed.
  const bool was_unavailable = unavailable_;
  const std::size_t n = slots_.size();
  for (;;) {
    if (closing_) co_return make_error(ErrorCode::cancelled, "the sidecar is shutting down");
    if (!started_) {  // lazy fill: the first call opens the whole pool
      started_ = true;
      for (std::size_t i = 0; i < n; ++i) start_fill(i);
    }
    if (auto pooled = take_ready()) co_return pooled;
    if (unavailable_) {
      // Fail fast, and start a new fill cycle in the background.
      if (was_unavailable)
        for (std::size_t i = 0; i < n; ++i)
          if (slots_[i].state == SlotState::failed || slots_[i].state == SlotState::empty) start_fill(i);
      if (metrics_) metrics_->fast_fails_total.Add({{"server", options_.server}}).Increment();
      const Error* last = nullptr;
      for (const auto& s : slots_)
        if (s.last_error) last = &*s.last_error;
      Error e{ErrorCode::unavailable,
              "upstream unavailable: " + (last ? last->message : std::string("no session could be opened"))};
      if (last && refused(last->code)) {
        // The server answered, and said no: that is what the caller should see (a wrong
        // transport, credentials, an MCP revision in common), not a server that is down.
        e.code = last->code;
        e.message = "no session could be opened: " + last->message;
        e.detail = last->detail;
      }
      e.retry_after_seconds = retry_after_seconds();
      co_return e;
    }
    // Nothing ready: slots whose cycle ended a while ago try again.
    auto now = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      auto& s = slots_[i];
      if (s.state == SlotState::empty ||
          (s.state == SlotState::failed && now - s.failed_at >= options_.retry.max_delay))
        start_fill(i);
    }
    if (now >= deadline || !co_await changed_.wait_until(deadline)) {
      if (Clock::now() >= deadline)
        co_return make_error(ErrorCode::timeout, "no upstream session became ready before the call timeout");
    }
  }
}

void SessionPool::evict(const std::shared_ptr<PooledSession>& pooled, std::string_view reason) {
  auto& slot = slots_[pooled->slot];
  if (slot.pooled != pooled) return;  // already replaced
  retire(pooled->slot, reason);
  start_fill(pooled->slot);
  update_gauges();
}

void SessionPool::mark_unreachable(const Error& why) {
  if (!started_ || closing_) return;
  const auto now = Clock::now();
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    auto& slot = slots_[i];
    if (slot.state == SlotState::ready) retire(i, "unreachable");
    if (slot.state != SlotState::empty) continue;  // opening or in backoff: its cycle decides
    slot.state = SlotState::failed;
    slot.failed_at = now;
    slot.last_error = why;
  }
  if (!unavailable_) {
    unavailable_ = true;
    log::warn("upstream_unavailable", {{"server", options_.server}, {"error", why.message}});
  }
  update_gauges();
  changed_.notify_all();
}

void SessionPool::retire(std::size_t i, std::string_view reason) {
  auto& slot = slots_[i];
  auto session = slot.pooled->session;
  slot.pooled.reset();
  slot.state = SlotState::empty;
  if (metrics_)
    metrics_->session_evictions_total.Add({{"server", options_.server}, {"reason", std::string(reason)}}).Increment();
  warnings_.warn("evict:" + options_.server, "session_evicted",
                 {{"server", options_.server}, {"slot", i}, {"reason", reason}});
  // Closed in the background: a DELETE, unless the server already forgot it; never a wait for
  // the caller that found it broken.
  ++tasks_;
  asio::co_spawn(
      ex_,
      [this, alive = alive_, session = std::move(session)]() -> asio::awaitable<void> {
        co_await session->close(Clock::now() + std::chrono::seconds(2));
        if (!*alive) co_return;
        --tasks_;
        changed_.notify_all();
      },
      asio::detached);
}

asio::awaitable<void> SessionPool::close(TimePoint deadline) {
  closing_ = true;
  changed_.notify_all();
  closed_.notify_all();
  for (auto& slot : slots_) {
    if (slot.state != SlotState::ready) continue;
    ++tasks_;
    asio::co_spawn(
        ex_,
        [this, alive = alive_, session = slot.pooled->session, deadline]() -> asio::awaitable<void> {
          co_await session->close(deadline);
          if (!*alive) co_return;
          --tasks_;
          changed_.notify_all();
        },
        asio::detached);
    slot.pooled.reset();
    slot.state = SlotState::empty;
  }
  while (tasks_ > 0 && Clock::now() < deadline) co_await changed_.wait_until(deadline);
  update_gauges();
}

std::vector<std::shared_ptr<PooledSession>> SessionPool::idle_sessions(milliseconds idle_for) const {
  std::vector<std::shared_ptr<PooledSession>> out;
  const auto now = Clock::now();
  for (const auto& s : slots_)
    if (s.state == SlotState::ready && s.pooled->inflight == 0 && now - s.pooled->last_used >= idle_for)
      out.push_back(s.pooled);
  return out;
}

void SessionPool::refill() {
  if (!started_ || closing_) return;
  for (std::size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].state == SlotState::failed || slots_[i].state == SlotState::empty) start_fill(i);
}

nlohmann::json SessionPool::debug() const {
  nlohmann::json sessions = nlohmann::json::array();
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const auto& s = slots_[i];
    nlohmann::json j = {{"slot", i}, {"state", state_name(static_cast<int>(s.state))}};
    if (s.pooled) {
      j["age_seconds"] = seconds_since(s.pooled->opened_at);
      j["inflight"] = s.pooled->inflight;
      j["calls"] = s.pooled->calls;
      j["protocol_version"] = s.pooled->session->info().protocol_version;
    }
    if (s.attempts > 0) j["attempts"] = s.attempts;
    if (s.last_error) j["last_error"] = s.last_error->message;
    sessions.push_back(std::move(j));
  }
  return {{"size", slots_.size()}, {"started", started_}, {"unavailable", unavailable_}, {"sessions", sessions}};
}

}  // namespace mcp_sidecar::outbound

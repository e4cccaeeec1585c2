#include "outbound/client_sessions.hpp"

#include "mcp/jsonrpc.hpp"
#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <array>
#include <cstdio>

namespace mcp_sidecar::outbound {

namespace {

constexpr auto kSweepEvery = std::chrono::seconds(1);
constexpr auto kCloseTimeout = std::chrono::seconds(5);

void count(Metrics& metrics, const char* event) {
  metrics.client_session_events_total.Add({{"event", event}}).Increment();
}

}  // namespace

std::optional<int> log_severity(const json& level) {
  static constexpr std::array<std::string_view, 8> kLevels = {"debug", "info",     "notice", "warning",
                                                              "error", "critical", "alert",  "emergency"};
  if (!level.is_string()) return std::nullopt;
  const auto& text = level.get_ref<const std::string&>();
  for (std::size_t i = 0; i < kLevels.size(); ++i)
    if (kLevels[i] == text) return static_cast<int>(i);
  return std::nullopt;
}

bool ClientSession::can_answer(std::string_view method) const {
  const char* capability = mcp::capability_for(method);
  return capability && capabilities.is_object() && capabilities.contains(capability);
}

bool ClientSession::wants_log(const json& level) const {
  if (log_level.empty()) return true;  // the server's own default, as it would be without the sidecar
  auto severity = log_severity(level);
  return !severity || *severity >= log_severity(log_level).value_or(0);
}

ClientSessions::ClientSessions(int max_sessions, milliseconds idle_timeout, std::function<std::uint64_t()> random64,
                               Metrics& metrics)
    : max_(max_sessions),
      idle_timeout_(idle_timeout),
      random64_(std::move(random64)),
      gauge_(metrics.client_sessions.Add({})),
      metrics_(metrics) {}

void ClientSessions::sweep() {
  const auto now = Clock::now();
  if (now - swept_at_ < kSweepEvery) return;
  swept_at_ = now;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (it->second->busy == 0 && !it->second->stream_wake && now - it->second->last_used >= idle_timeout_) {
      count(metrics_, "expired");
      end(*it->second);
      it = sessions_.erase(it);
    } else {
      ++it;
    }
  }
  gauge_.Set(static_cast<double>(sessions_.size()));
}

Result<std::shared_ptr<ClientSession>> ClientSessions::create(const std::string& server, std::string protocol_version,
                                                              json capabilities, bool legacy) {
  sweep();
  if (static_cast<int>(sessions_.size()) >= max_) {
    count(metrics_, "refused");
    Error e{ErrorCode::overloaded, "the sidecar holds as many client sessions as it may (max_client_sessions)"};
    e.retry_after_seconds = 1;
    return e;
  }
  auto session = std::make_shared<ClientSession>();
  // 128 random bits as hex: visible ASCII, as the specification asks of a session id.
  char id[33];
  std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(random64_()),
                static_cast<unsigned long long>(random64_()));
  session->id = id;
  session->server = server;
  session->protocol_version = std::move(protocol_version);
  session->capabilities = capabilities.is_object() ? std::move(capabilities) : json::object();
  session->last_used = Clock::now();
  session->legacy = legacy;
  sessions_.emplace(session->id, session);
  count(metrics_, "opened");
  gauge_.Set(static_cast<double>(sessions_.size()));
  return session;
}

std::shared_ptr<ClientSession> ClientSessions::find(std::string_view id, std::string_view server) {
  sweep();
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second->server != server) return nullptr;
  it->second->last_used = Clock::now();
  return it->second;
}

bool ClientSessions::erase(std::string_view id, std::string_view server) {
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second->server != server) return false;
  auto session = it->second;
  sessions_.erase(it);
  count(metrics_, "deleted");
  gauge_.Set(static_cast<double>(sessions_.size()));
  end(*session);
  return true;
}

void ClientSessions::close_all() {
  auto sessions = std::move(sessions_);
  sessions_.clear();
  for (auto& [_, session] : sessions) end(*session);
  gauge_.Set(0);
}

void ClientSessions::end(ClientSession& session) {
  // What it still waits for ends now: requests upstream are cancelled, questions unanswered,
  // its event stream closed, its own upstream session ended.
  session.closed = true;
  if (session.stream_wake) session.stream_wake->notify_all();
  auto inflight = session.inflight;
  for (auto& [_, cancel] : inflight) cancel->cancel();
  end_dedicated(session);
}

void ClientSessions::end_dedicated(ClientSession& session) {
  if (auto dedicated = std::move(session.dedicated)) {
    asio::co_spawn(
        session.executor,
        [dedicated]() -> asio::awaitable<void> { co_await dedicated->close(Clock::now() + kCloseTimeout); },
        asio::detached);
  }
}

}  // namespace mcp_sidecar::outbound

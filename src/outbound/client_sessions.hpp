// The MCP endpoint's sessions with clients of the session revisions (2025-03-26..2025-11-25):
// the sidecar gives each client its own Mcp-Session-Id at `initialize`, while the client's
// calls travel over the upstream's shared pool. What a client session holds is what cannot be
// shared: its negotiated revision and capabilities, its logging level, its requests in flight
// (for notifications/cancelled) and the server-to-client requests it was asked (ids of the
// sidecar's own, so two clients on one upstream session never see each other's messages).
// Bounded in number; forgotten after an idle timeout. Single-threaded.
#pragma once

#include "core/async.hpp"
#include "core/result.hpp"
#include "outbound/session.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace prometheus {
class Gauge;
}

namespace mcp_sidecar {
class Metrics;
}

namespace mcp_sidecar::outbound {

struct ClientSession {
  std::string id;
  std::string server;
  std::string protocol_version;
  json capabilities = json::object();  // what the client declared at initialize
  std::string log_level;               // logging/setLevel; empty = never set
  TimePoint last_used{};
  int busy = 0;  // requests being answered: a busy session is never forgotten

  // Requests in flight, by the client's id (its JSON text), for notifications/cancelled.
  std::map<std::string, Cancellation*> inflight;

  // Server-to-client requests sent to this client and not yet answered, by the sidecar's id.
  std::map<std::int64_t, std::function<void(const json& answer)>> asked;
  std::int64_t next_request_id = 1;

  // HTTP+SSE (2024-11-05) clients: every message to the client travels on their GET event
  // stream, queued here until the stream's writer takes it.
  bool legacy = false;
  bool initialized = false;  // legacy: initialize answered
  bool closed = false;       // ended: its stream stops
  std::deque<json> outbox;
  Notifier* stream_wake = nullptr;  // set while the stream's writer waits
  // Queues a message for the client's stream (bounded: the oldest is dropped first).
  void send(json message) {
    if (closed) return;
    if (outbox.size() >= kMaxOutbox) outbox.pop_front();
    outbox.push_back(std::move(message));
    if (stream_wake) stream_wake->notify_all();
  }
  static constexpr std::size_t kMaxOutbox = 1024;

  // A session with the upstream of this client's own, for state that cannot be shared (its
  // resource subscriptions); closed when the client session ends.
  std::shared_ptr<UpstreamSession> dedicated;
  asio::any_io_executor executor;  // where `dedicated` is closed

  // True when the client declared the capability a server-to-client request needs.
  bool can_answer(std::string_view method) const;
  // Whether a notifications/message at `level` passes the client's logging/setLevel.
  bool wants_log(const json& level) const;
};

// "debug" .. "emergency" (RFC 5424, as MCP names them) as 0..7; nullopt for anything else.
std::optional<int> log_severity(const json& level);

class ClientSessions {
 public:
  ClientSessions(int max_sessions, milliseconds idle_timeout, std::function<std::uint64_t()> random64,
                 Metrics& metrics);

  // A new session, or overloaded when `max_sessions` are open (after forgetting idle ones).
  Result<std::shared_ptr<ClientSession>> create(const std::string& server, std::string protocol_version,
                                                json capabilities, bool legacy = false);
  // The session `id` of `server`, or null when unknown or forgotten (the client gets 404).
  std::shared_ptr<ClientSession> find(std::string_view id, std::string_view server);
  // Ends a session (DELETE): its requests in flight are cancelled.
  bool erase(std::string_view id, std::string_view server);
  std::size_t size() const { return sessions_.size(); }
  // Shutdown: every session ends (streams close, dedicated upstream sessions are closed).
  void close_all();

 private:
  void sweep();
  // Ends a session: its stream closes, its requests are cancelled, its dedicated upstream
  // session is closed.
  static void end(ClientSession& session);

 public:
  // Closes a client session's dedicated upstream session in the background.
  static void end_dedicated(ClientSession& session);

 private:
  int max_;
  milliseconds idle_timeout_;
  std::function<std::uint64_t()> random64_;
  std::map<std::string, std::shared_ptr<ClientSession>, std::less<>> sessions_;
  TimePoint swept_at_{};
  prometheus::Gauge& gauge_;
  Metrics& metrics_;
};

}  // namespace mcp_sidecar::outbound

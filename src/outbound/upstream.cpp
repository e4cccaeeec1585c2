#include "outbound/upstream.hpp"

#include "mcp/jsonrpc.hpp"
#include "telemetry/metrics.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace mcp_sidecar::outbound {

namespace {
constexpr int kMaxToolPages = 100;

std::unique_ptr<tls::ReloadingContext> make_tls(const config::ServerConfig& server) {
  if (server.url.rfind("https://", 0) != 0) return nullptr;
  tls::ClientFiles files{server.tls.ca_file, server.tls.cert_file, server.tls.key_file};
  std::vector<std::string> watched;
  for (const auto* f : {&files.ca_file, &files.cert_file, &files.key_file})
    if (!f->empty()) watched.push_back(*f);
  return std::make_unique<tls::ReloadingContext>("upstream:" + server.name, std::move(watched),
                                                 [files] { return tls::make_client_context(files); });
}
}  // namespace

Result<void> Upstream::load() {
  if (!tls_) return {};
  if (auto r = tls_->load(); !r)
    return make_error(ErrorCode::internal, "server " + server_.name + ": " + r.error().message);
  return {};
}

Upstream::Upstream(asio::any_io_executor ex, const config::OutboundConfig& outbound, const config::ServerConfig& server,
                   Metrics& metrics, std::string version)
    : ex_(ex),
      outbound_(outbound),
      server_(server),
      metrics_(metrics),
      call_timeout_(outbound.call_timeout_of(server)),
      settings_{outbound.bearer_token_of(server).empty() ? std::string() : "Bearer " + outbound.bearer_token_of(server),
                outbound.case_id.header,
                outbound.upstream.max_response_bytes,
                std::move(version),
                outbound.max_stream_resumptions,
                [&counter = metrics.stream_resumptions_total.Add({{"server", server.name}})] { counter.Increment(); }},
      tls_(make_tls(server)),
      connections_(
          ex, *http::parse_url(server.url),
          {outbound.upstream.max_connections,
           outbound.upstream.idle_timeout,
           outbound.connect_timeout,
           {tls_ ? http::ConnectionPool::Tls{[this] { return tls_->current(); }, server.tls.server_name,
                                             server.tls.expect_identity}
                 : http::ConnectionPool::Tls{}}},
          [&metrics, name = server.name](std::string_view outcome) {
            metrics.upstream_connections_total.Add({{"server", name}, {"outcome", std::string(outcome)}}).Increment();
          }),
      sessions_(
          ex,
          SessionPool::Options{server.name, outbound.pool_size_of(server), outbound.retry,
                               outbound.session_open_timeout},
          [this] { return make_streamable_http_session(connections_, settings_); }, &metrics),
      inflight_gauge_(metrics.inflight_calls.Add({{"direction", "outbound"}, {"server", server.name}})),
      retries_(metrics.retries_total.Add({{"server", server.name}})),
      fast_fails_(metrics.fast_fails_total.Add({{"server", server.name}})),
      cancellations_(metrics.upstream_cancellations_total.Add({{"server", server.name}})),
      heartbeat_wake_(ex),
      refreshed_(ex) {
  metrics.auth_disabled.Add({{"direction", "outbound"}, {"server", server.name}})
      .Set(settings_.authorization.empty() ? 1 : 0);
}

asio::awaitable<Result<json>> Upstream::rpc(std::string_view method, const json& params, const RpcOptions& options,
                                            bool safe_to_resend) {
  // Failures that never reached the server may be resent once per session in the pool (a
  // restarted server 404s every old session) plus one; a safe method may be resent once more.
  const auto max_undelivered = static_cast<int>(sessions_.size()) + 1;
  int undelivered = 0;
  bool resent_safe = false;
  for (;;) {
    auto acquired = co_await sessions_.acquire(options.deadline);
    if (!acquired) co_return std::move(acquired).error();
    auto pooled = std::move(acquired).value();
    ++pooled->inflight;
    ++pooled->calls;
    pooled->last_used = Clock::now();
    auto reply = co_await pooled->session->request(method, params, options);
    --pooled->inflight;
    pooled->last_used = Clock::now();
    if (!reply && reply.error().code == ErrorCode::timeout) cancellations_.Increment();
    if (!pooled->session->alive()) sessions_.evict(pooled, pooled->session->failure_reason());
    if (reply || Clock::now() >= options.deadline) co_return reply;
    const Error& e = reply.error();
    if (e.not_delivered && ++undelivered < max_undelivered) {
      retries_.Increment();
      continue;
    }
    if (safe_to_resend && !resent_safe && e.code == ErrorCode::unavailable) {
      resent_safe = true;
      retries_.Increment();
      continue;
    }
    co_return reply;
  }
}

asio::awaitable<Result<std::shared_ptr<const mcp::ToolCatalog>>> Upstream::tools(TimePoint deadline) {
  if (catalog_ && Clock::now() - catalog_at_ < outbound_.tools_cache_ttl) co_return catalog_;
  co_return co_await refresh_tools(deadline);
}

bool Upstream::lists_tool(std::string_view tool) const { return catalog_ && catalog_->find(tool) != nullptr; }

asio::awaitable<Result<std::shared_ptr<const mcp::ToolCatalog>>> Upstream::refresh_tools(TimePoint deadline) {
  if (refreshing_) {
    // Someone is already fetching: share their answer.
    const auto generation = refresh_generation_;
    while (refreshing_ && refresh_generation_ == generation) {
      if (!co_await refreshed_.wait_until(deadline) && Clock::now() >= deadline)
        co_return make_error(ErrorCode::timeout, "tools/list did not finish before the call timeout");
    }
    if (refresh_error_) co_return *refresh_error_;
    co_return catalog_;
  }
  refreshing_ = true;
  auto catalog = std::make_shared<mcp::ToolCatalog>();
  std::optional<Error> failure;
  std::string cursor;
  const RpcOptions options{.deadline = deadline};
  for (int page = 0; page < kMaxToolPages; ++page) {
    json params = cursor.empty() ? json::object() : json{{"cursor", cursor}};
    auto reply = co_await rpc("tools/list", params, options, /*safe_to_resend=*/true);
    if (!reply) {
      failure = std::move(reply).error();
      break;
    }
    const json& msg = reply.value();
    if (msg.contains("error")) {
      failure = Error{ErrorCode::upstream_rpc_error, "upstream refused tools/list", msg["error"]};
      break;
    }
    if (!catalog->add_page(msg["result"], cursor)) {
      failure = make_error(ErrorCode::upstream_protocol, "upstream sent a malformed tools/list result");
      break;
    }
    if (cursor.empty()) break;
  }
  refreshing_ = false;
  ++refresh_generation_;
  refresh_error_ = failure;
  if (!failure) {
    catalog_ = std::move(catalog);
    catalog_at_ = Clock::now();
  }
  refreshed_.notify_all();
  if (failure) co_return *failure;
  co_return catalog_;
}

asio::awaitable<Result<json>> Upstream::call_tool(const std::string& tool, json arguments, const std::string& case_id,
                                                  TimePoint deadline) {
  if (inflight_ >= outbound_.upstream.max_inflight) {
    fast_fails_.Increment();
    Error e{ErrorCode::overloaded, "too many calls in flight to this server"};
    e.retry_after_seconds = 1;
    co_return e;
  }
  ++inflight_;
  inflight_gauge_.Increment();
  struct Release {
    Upstream* u;
    ~Release() {
      --u->inflight_;
      u->inflight_gauge_.Decrement();
    }
  } release{this};

  auto catalog = co_await tools(deadline);
  if (!catalog) co_return std::move(catalog).error();
  const mcp::ToolInfo* info = catalog.value()->find(tool);
  if (!info && Clock::now() - catalog_at_ >= outbound_.tools_refresh_min_interval) {
    // Maybe the server has a new tool: look again, at a bounded rate.
    catalog = co_await refresh_tools(deadline);
    if (!catalog) co_return std::move(catalog).error();
    info = catalog.value()->find(tool);
  }
  if (!info) co_return make_error(ErrorCode::unknown_tool, "the server does not list this tool");

  const auto& cid = outbound_.case_id;
  bool inject = cid.inject == config::CaseIdInject::always ||
                (cid.inject == config::CaseIdInject::schema && info->declares(cid.argument));
  if (inject && !arguments.contains(cid.argument)) arguments[cid.argument] = case_id;
  json params = {{"name", tool}, {"arguments", std::move(arguments)}, {"_meta", {{cid.meta_key, case_id}}}};

  // Keep the catalog alive while `info` points into it.
  auto keep = catalog.value();
  RpcOptions options{.deadline = deadline, .case_id = case_id};
  if (outbound_.timeout_resets_on_progress) {
    // Ask for progress (a token of our own), and let each report push the deadline.
    params["_meta"]["progressToken"] = "mcp-sidecar-" + std::to_string(++progress_tokens_);
    options.progress_extension = call_timeout_;
    options.max_deadline = Clock::now() + outbound_.max_call_timeout;
  }
  auto reply = co_await rpc("tools/call", params, options, info->idempotent || info->read_only);
  if (!reply) co_return std::move(reply).error();
  json& msg = reply.value();
  if (auto err = msg.find("error"); err != msg.end())
    co_return Error{ErrorCode::upstream_rpc_error, "the upstream answered the call with an error", *err};
  auto result = msg.find("result");
  if (result == msg.end() || !result->is_object())
    co_return make_error(ErrorCode::upstream_protocol, "upstream sent a malformed tools/call result");
  co_return std::move(*result);
}

json Upstream::debug() const {
  json j = sessions_.debug();
  j["server"] = server_.name;
  j["transport"] = "streamable-http";
  j["inflight"] = inflight_;
  j["connections"] = {
      {"open", connections_.open()}, {"idle", connections_.idle()}, {"waiting", connections_.waiting()}};
  if (catalog_) j["tools"] = catalog_->tools().size();
  return j;
}

void Upstream::start() {
  if (outbound_.heartbeat_interval.count() <= 0) return;
  heartbeat_running_ = true;
  asio::co_spawn(ex_, heartbeat_loop(), asio::detached);
}

asio::awaitable<void> Upstream::stop(TimePoint deadline) {
  stopping_ = true;
  heartbeat_wake_.notify_all();
  while (heartbeat_running_ && Clock::now() < deadline) co_await heartbeat_wake_.wait_until(deadline);
}

asio::awaitable<void> Upstream::heartbeat_loop() {
  const auto interval = outbound_.heartbeat_interval;
  while (!stopping_) {
    co_await heartbeat_wake_.wait_until(Clock::now() + interval);
    if (stopping_) break;
    if (!sessions_.started()) continue;  // lazy: nothing to exercise before the first call
    sessions_.refill();
    for (auto& pooled : sessions_.idle_sessions(interval)) {
      if (stopping_) break;
      co_await beat(pooled);
    }
  }
  heartbeat_running_ = false;
  heartbeat_wake_.notify_all();
}

asio::awaitable<void> Upstream::beat(std::shared_ptr<PooledSession> pooled) {
  const RpcOptions options{.deadline = Clock::now() + outbound_.heartbeat_timeout};
  ++pooled->inflight;
  Result<json> reply = make_error(ErrorCode::internal, "no heartbeat sent");
  if (server_.heartbeat.tool.empty()) {
    reply = co_await pooled->session->request("ping", json::object(), options);
  } else {
    json params = {{"name", server_.heartbeat.tool}, {"arguments", json::object()}};
    reply = co_await pooled->session->request("tools/call", params, options);
  }
  --pooled->inflight;
  pooled->last_used = Clock::now();
  // Any JSON-RPC answer, even an error, shows the session is alive and answering.
  const char* outcome = reply ? "ok" : reply.error().code == ErrorCode::timeout ? "timeout" : "error";
  metrics_.heartbeats_total.Add({{"server", server_.name}, {"outcome", outcome}}).Increment();
  if (!reply || !pooled->session->alive()) {
    warnings_.warn(
        "heartbeat:" + server_.name, "heartbeat_failed",
        {{"server", server_.name}, {"outcome", outcome}, {"error", reply ? "session lost" : reply.error().message}});
    sessions_.evict(pooled, reply.ok() || reply.error().code != ErrorCode::timeout ? "heartbeat" : "heartbeat_timeout");
  }
}

asio::awaitable<void> Upstream::close(TimePoint deadline) {
  co_await sessions_.close(deadline);
  connections_.close_all();
}

}  // namespace mcp_sidecar::outbound

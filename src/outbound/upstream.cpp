#include "outbound/upstream.hpp"

#include "core/json_write.hpp"
#include "mcp/headers.hpp"
#include "mcp/json_document.hpp"
#include "mcp/json_parse.hpp"
#include "mcp/jsonrpc.hpp"
#include "telemetry/metrics.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <random>

namespace mcp_sidecar::outbound {

namespace {
constexpr int kMaxToolPages = 100;

// Arguments passed on as the client wrote them (McpEndpoint::call_tool) made values, for a call
// that adds to them or mirrors them into headers. False for text that is not JSON (it was
// checked when the request was read, so never).
bool as_values(json& arguments) {
  if (!is_json_text(arguments)) return true;
  auto values = mcp::parse_json(json_text(arguments));
  if (values) arguments = std::move(*values);
  return values.has_value();
}

// Whether the arguments, values or text, have the member `key`.
bool has_member(const json& arguments, std::string_view key) {
  return is_json_text(arguments) ? mcp::text_has_member(json_text(arguments), key) : arguments.contains(key);
}

double random_unit() {
  static std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

std::unique_ptr<tls::ReloadingContext> make_tls(const config::ServerConfig& server) {
  if (server.url.rfind("https://", 0) != 0) return nullptr;
  tls::ClientFiles files{server.tls.ca_file, server.tls.cert_file, server.tls.key_file};
  std::vector<std::string> watched;
  for (const auto* f : {&files.ca_file, &files.cert_file, &files.key_file})
    if (!f->empty()) watched.push_back(*f);
  return std::make_unique<tls::ReloadingContext>("upstream:" + server.name, std::move(watched),
                                                 [files] { return tls::make_client_context(files); });
}
constexpr int kMaxCapableSessions = 16;
constexpr auto kCloseSpare = std::chrono::seconds(5);

Error overloaded() {
  Error e{ErrorCode::overloaded, "too many calls in flight to this server"};
  e.retry_after_seconds = 1;
  return e;
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
      connections_(ex, *http::parse_url(server.url),
                   {outbound.upstream.max_connections,
                    outbound.upstream.idle_timeout,
                    outbound.connect_timeout,
                    {tls_ ? http::ConnectionPool::Tls{[this] { return tls_->current(); }, server.tls.server_name,
                                                      server.tls.expect_identity}
                          : http::ConnectionPool::Tls{}}},
                   [this](std::string_view outcome, const Error* failure, TimePoint started) {
                     connected(outcome, failure, started);
                   }),
      sessions_(ex,
                SessionPool::Options{server.name, outbound.pool_size_of(server), outbound.retry,
                                     outbound.session_open_timeout},
                session_factory(), &metrics),
      inflight_gauge_(metrics.inflight_calls.Add({{"direction", "outbound"}, {"server", server.name}})),
      retries_(metrics.retries_total.Add({{"server", server.name}})),
      fast_fails_(metrics.fast_fails_total.Add({{"server", server.name}})),
      cancellations_(metrics.upstream_cancellations_total.Add({{"server", server.name}})),
      listen_gauge_(metrics.upstream_listening.Add({{"server", server.name}})),
      list_changed_(metrics.upstream_notifications_total.Add(
          {{"server", server.name}, {"method", "notifications/tools/list_changed"}})),
      heartbeat_wake_(ex),
      refreshed_(ex) {
  metrics.auth_disabled.Add({{"direction", "outbound"}, {"server", server.name}})
      .Set(settings_.authorization.empty() ? 1 : 0);
  verdict_.on_detected = [this](Era era) {
    metrics_.era_detections_total.Add({{"server", server_.name}, {"era", std::string(era_name(era))}}).Increment();
    log::info("upstream_era_detected", {{"server", server_.name}, {"era", era_name(era)}});
    show_era(era);
  };
  verdict_.on_contradicted = [this](Era era) {
    warnings_.warn("era:" + server_.name, "upstream_era_changed",
                   {{"server", server_.name},
                    {"was", era_name(era)},
                    {"message", "the server answered as another MCP revision would; detecting again"}});
    show_era(std::nullopt);
  };
  show_era(era());
}

SessionFactory Upstream::session_factory() {
  if (server_.transport == config::TransportKind::auto_detect)
    return [this] { return make_detecting_session(connections_, settings_, verdict_); };
  return [this, era = *era()] { return make_session(connections_, settings_, era); };
}

std::optional<Era> Upstream::era() const {
  switch (server_.transport) {
    case config::TransportKind::auto_detect:
      return verdict_.era;
    case config::TransportKind::stateless:
      return Era::stateless;
    case config::TransportKind::sse:
      return Era::legacy_sse;
    case config::TransportKind::streamable_http:
      break;
  }
  return Era::sessions;
}

void Upstream::connected(std::string_view outcome, const Error* failure, TimePoint started) {
  metrics_.upstream_connections_total.Add({{"server", server_.name}, {"outcome", std::string(outcome)}}).Increment();
  if (!failure) {
    connect_failures_ = 0;
    reached_at_ = Clock::now();
    return;
  }
  // The upstream's failures only: not the sidecar's descriptor limit, nor a call's deadline.
  if (failure->code != ErrorCode::unavailable) return;
  // An attempt that began before the upstream was last reached tells nothing new: a partition
  // that healed while it waited out its connect timeout must not retire the sessions opened
  // since.
  if (started < reached_at_) return;
  // Sessions are not found dead by a connection that cannot be made (a partition, a server
  // gone): without this, every call would wait out its connect timeouts on sessions still
  // "ready". Recovery is the pool's: the next call or heartbeat starts a new fill cycle.
  if (++connect_failures_ >= outbound_.retry.max_attempts) sessions_.mark_unreachable(*failure);
}

void Upstream::show_era(std::optional<Era> era) {
  for (Era e : {Era::stateless, Era::sessions, Era::legacy_sse})
    metrics_.upstream_era.Add({{"server", server_.name}, {"era", std::string(era_name(e))}}).Set(era == e ? 1 : 0);
}

asio::awaitable<Result<json>> Upstream::rpc(std::string_view method, const json& params, const RpcOptions& options) {
  // Failures that never reached the server may be resent once per session in the pool (a
  // restarted server 404s every old session) plus one; a safe method may be resent once more.
  const auto max_undelivered = static_cast<int>(sessions_.size()) + 1;
  int undelivered = 0;
  bool resent_safe = false;
  for (;;) {
    auto pooled = sessions_.take_ready();  // without suspending when a session is ready
    if (!pooled) {
      auto acquired = co_await sessions_.acquire(options.deadline);
      if (!acquired) co_return std::move(acquired).error();
      pooled = std::move(acquired).value();
    }
    ++pooled->inflight;
    ++pooled->calls;
    pooled->last_used = Clock::now();
    auto reply = co_await pooled->session->request(method, params, options);
    --pooled->inflight;
    pooled->last_used = Clock::now();
    if (!reply && reply.error().code == ErrorCode::timeout) cancellations_.Increment();
    if (!pooled->session->alive()) sessions_.evict(pooled, pooled->session->failure_reason());
    if (reply || Clock::now() >= options.deadline || (options.cancel && options.cancel->requested())) co_return reply;
    const Error& e = reply.error();
    if (e.not_delivered && ++undelivered < max_undelivered) {
      retries_.Increment();
      continue;
    }
    if (options.idempotent && !resent_safe && e.code == ErrorCode::unavailable) {
      resent_safe = true;
      retries_.Increment();
      continue;
    }
    co_return reply;
  }
}

asio::awaitable<Result<std::shared_ptr<const mcp::ToolCatalog>>> Upstream::tools(TimePoint deadline) {
  if (catalog_fresh()) co_return catalog_;
  co_return co_await refresh_tools(deadline);
}

std::shared_ptr<const mcp::ToolCatalog> Upstream::fresh_tools() const { return catalog_fresh() ? catalog_ : nullptr; }

std::shared_ptr<const void> Upstream::credentials() const {
  // The bearer token is fixed for the process; the client certificate follows its files.
  return tls_ ? std::shared_ptr<const void>(tls_->current()) : nullptr;
}

bool Upstream::catalog_fresh() const {
  if (!catalog_) return false;
  const auto ttl = catalog_->ttl_ms() ? milliseconds(*catalog_->ttl_ms()) : outbound_.tools_cache_ttl;
  if (Clock::now() - catalog_at_ >= ttl) return false;
  return !catalog_->private_scope() || catalog_credentials_ == credentials();
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
  metrics_.tools_list_fetches_total.Add({{"server", server_.name}}).Increment();
  auto credentials_used = credentials();
  auto catalog = std::make_shared<mcp::ToolCatalog>();
  std::optional<Error> failure;
  std::string cursor;
  const RpcOptions options{.deadline = deadline, .idempotent = true};
  for (int page = 0; page < kMaxToolPages; ++page) {
    json params = cursor.empty() ? json::object() : json{{"cursor", cursor}};
    auto reply = co_await rpc("tools/list", params, options);
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
    for (const auto& why : catalog->rejected())
      warnings_.warn("rejected_tool:" + server_.name + ":" + why, "upstream_tool_rejected",
                     {{"server", server_.name}, {"reason", why}});
    catalog_ = std::move(catalog);
    catalog_at_ = Clock::now();
    catalog_credentials_ = std::move(credentials_used);
    maybe_listen();
  }
  refreshed_.notify_all();
  if (failure) co_return *failure;
  co_return catalog_;
}

std::vector<std::pair<std::string, std::string>> Upstream::param_headers(const mcp::ToolInfo& tool,
                                                                         const json& arguments) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const auto& param : tool.header_params) {
    const json* value = &arguments;
    for (const auto& key : param.path) {
      if (!value->is_object() || !value->contains(key)) {
        value = nullptr;
        break;
      }
      value = &(*value)[key];
    }
    if (!value || value->is_null()) continue;  // absent or null: the header is omitted
    if (auto text = mcp::header_text(*value))
      headers.emplace_back(std::string(mcp::kParamHeaderPrefix) + param.header, mcp::encode_header_value(*text));
  }
  return headers;
}

std::optional<std::shared_ptr<void>> Upstream::admit() {
  if (inflight_ >= outbound_.upstream.max_inflight) {
    fast_fails_.Increment();
    return std::nullopt;
  }
  ++inflight_;
  inflight_gauge_.Increment();
  return std::shared_ptr<void>(nullptr, [this](void*) {
    --inflight_;
    inflight_gauge_.Decrement();
  });
}

void Upstream::relay_into(RpcOptions& options, json& params, const CallExtras& extras) {
  options.on_message = extras.on_message;
  options.on_request = extras.on_request;
  options.cancel = extras.cancel;
  if (extras.want_progress || outbound_.timeout_resets_on_progress)
    params["_meta"]["progressToken"] = "mcp-sidecar-" + std::to_string(++progress_tokens_);
  if (outbound_.timeout_resets_on_progress) {
    // Each progress report pushes the deadline.
    options.progress_extension = call_timeout_;
    options.max_deadline = Clock::now() + outbound_.max_call_timeout;
  }
  options.client_capabilities = &extras.client_capabilities;
  for (const auto& [key, value] : extras.meta.items()) params["_meta"][key] = value;
}

asio::awaitable<Result<json>> Upstream::request(std::string_view method, json params, const std::string& case_id,
                                                TimePoint deadline, const CallExtras& extras) {
  auto admitted = admit();
  if (!admitted) co_return overloaded();
  if (!params.is_object()) params = json::object();
  if (!case_id.empty()) params["_meta"][outbound_.case_id.meta_key] = case_id;
  for (const char* key : {"inputResponses", "requestState"})
    if (extras.retry.contains(key)) params[key] = extras.retry[key];
  // Lists, reads, prompts and completions change nothing on the server: safe to send again.
  RpcOptions options{.deadline = deadline, .case_id = case_id, .idempotent = true};
  relay_into(options, params, extras);
  co_return co_await send(method, params, options, extras);
}

asio::awaitable<Result<SessionInfo>> Upstream::server_info(TimePoint deadline) {
  auto acquired = co_await sessions_.acquire(deadline);
  if (!acquired) co_return std::move(acquired).error();
  co_return acquired.value()->session->info();
}

asio::awaitable<Result<std::shared_ptr<UpstreamSession>>> Upstream::open_dedicated(TimePoint deadline,
                                                                                   const json& capabilities) {
  if (!era()) {
    // Not detected yet: the pool's first session concludes it.
    auto info = co_await server_info(deadline);
    if (!info) co_return std::move(info).error();
  }
  const TransportSettings* settings = &settings_;
  if (!capabilities.empty()) {
    auto [it, fresh] = capable_settings_.try_emplace(capabilities.dump(), settings_);
    if (fresh) it->second.client_capabilities = capabilities;
    settings = &it->second;
  }
  auto session = make_session(connections_, *settings, era().value_or(Era::sessions));
  if (auto opened = co_await session->open(deadline); !opened) co_return std::move(opened).error();
  co_return session;
}

asio::awaitable<Result<std::shared_ptr<UpstreamSession>>> Upstream::capable_session(const json& capabilities,
                                                                                    TimePoint deadline) {
  const std::string key = capabilities.dump();
  if (auto it = capable_.find(key); it != capable_.end() && it->second->alive()) co_return it->second;
  auto opened = co_await open_dedicated(deadline, capabilities);
  if (!opened) co_return std::move(opened).error();
  auto& slot = capable_[key];
  if (slot && slot->alive()) {
    // Another call opened one meanwhile: keep that, close ours.
    asio::co_spawn(
        ex_, [s = opened.value()]() -> asio::awaitable<void> { co_await s->close(Clock::now() + kCloseSpare); },
        asio::detached);
    co_return slot;
  }
  if (slot) {
    asio::co_spawn(
        ex_, [s = slot]() -> asio::awaitable<void> { co_await s->close(Clock::now() + kCloseSpare); }, asio::detached);
  } else if (capable_.size() > kMaxCapableSessions) {
    capable_.erase(key);
    co_return make_error(ErrorCode::overloaded, "too many distinct client capability sets for this server");
  }
  slot = opened.value();
  co_return slot;
}

asio::awaitable<Result<json>> Upstream::send(std::string_view method, const json& params, const RpcOptions& options,
                                             const CallExtras& extras) {
  // Not a coroutine itself: the usual way, the pool, costs no frame of its own.
  const bool asks = mcp::answers_server_requests(extras.client_capabilities);
  const auto e = era();
  if (!asks || !e || *e == Era::stateless) return rpc(method, params, options);
  return send_capable(method, params, options, extras);
}

asio::awaitable<Result<json>> Upstream::send_capable(std::string_view method, const json& params,
                                                     const RpcOptions& options, const CallExtras& extras) {
  auto session = co_await capable_session(extras.client_capabilities, options.deadline);
  if (!session) co_return std::move(session).error();
  co_return co_await session.value()->request(method, params, options);
}

asio::awaitable<Result<json>> Upstream::call_tool(const std::string& tool, json arguments, const std::string& case_id,
                                                  TimePoint deadline, const CallExtras& extras) {
  auto admitted = admit();
  if (!admitted) co_return overloaded();

  Result<std::shared_ptr<const mcp::ToolCatalog>> catalog = fresh_tools();
  if (!catalog.value()) catalog = co_await refresh_tools(deadline);
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
  const bool adds_case_id = inject && !has_member(arguments, cid.argument);
  if ((adds_case_id || !info->header_params.empty()) && !as_values(arguments))
    co_return make_error(ErrorCode::internal, "the call's arguments are not JSON");
  if (adds_case_id) arguments[cid.argument] = case_id;
  json params = json::object();  // member by member: an initializer list builds an array per member
  const mcp::Disposing disposing(params);
  params["name"] = tool;
  params["arguments"] = std::move(arguments);
  params["_meta"][cid.meta_key] = case_id;

  // Keep the catalog alive while `info` points into it.
  auto keep = catalog.value();
  RpcOptions options{.deadline = deadline,
                     .case_id = case_id,
                     .idempotent = info->idempotent || info->read_only,
                     .tool_output_as_text = true};
  relay_into(options, params, extras);
  // A retry after input_required carries the caller's answers, exactly as given.
  for (const char* key : {"inputResponses", "requestState"})
    if (extras.retry.contains(key)) params[key] = extras.retry[key];
  options.headers = param_headers(*info, params["arguments"]);
  auto reply = co_await send("tools/call", params, options, extras);
  if (!reply && reply.error().code == ErrorCode::upstream_header_mismatch &&
      Clock::now() - catalog_at_ >= outbound_.tools_refresh_min_interval) {
    // The server reads the tool's x-mcp-header parameters differently: its schema changed.
    // Look again and resend once (a refused request was not run).
    catalog = co_await refresh_tools(deadline);
    if (!catalog) co_return std::move(catalog).error();
    keep = catalog.value();
    info = keep->find(tool);
    if (!info) co_return make_error(ErrorCode::unknown_tool, "the server does not list this tool");
    if (!info->header_params.empty() && !as_values(params["arguments"]))
      co_return make_error(ErrorCode::internal, "the call's arguments are not JSON");
    options.headers = param_headers(*info, params["arguments"]);
    options.idempotent = info->idempotent || info->read_only;
    retries_.Increment();
    reply = co_await send("tools/call", params, options, extras);
  }
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
  j["transport"] = config::to_string(server_.transport);
  if (auto e = era()) j["era"] = era_name(*e);
  j["inflight"] = inflight_;
  j["client_capability_sessions"] = capable_.size();
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
  // What is still talking to the upstream now (a listen stream, a beat) is cut: the calls are over.
  if (listening_) connections_.abort_inflight();
  while ((heartbeat_running_ || listening_) && Clock::now() < deadline) co_await heartbeat_wake_.wait_until(deadline);
}

void Upstream::maybe_listen() {
  if (listening_ || stopping_ || era() != Era::stateless) return;
  listening_ = true;
  asio::co_spawn(ex_, listen_loop(), asio::detached);
}

asio::awaitable<void> Upstream::listen_loop() {
  // A listen outlives any call: its window is long, and it is simply opened again when it ends.
  constexpr auto kListenWindow = std::chrono::hours(24);
  int failures = 0;
  while (!stopping_) {
    auto acquired = co_await sessions_.acquire(Clock::now() + outbound_.session_open_timeout);
    if (stopping_) break;
    if (acquired) {
      auto pooled = std::move(acquired).value();
      const auto& info = pooled->session->info();
      const json& tools = info.capabilities.contains("tools") ? info.capabilities["tools"] : json();
      if (info.era != Era::stateless || !tools.is_object() || tools.value("listChanged", false) != true)
        break;  // nothing to listen to (and no era change would make it so without a new verdict)
      bool acknowledged = false;
      RpcOptions options{.deadline = Clock::now() + kListenWindow};
      options.on_message = [&](const json& msg) {
        const auto& method = msg["method"];
        if (method == "notifications/subscriptions/acknowledged") {
          acknowledged = true;
          listen_gauge_.Set(1);
        } else if (method == "notifications/tools/list_changed") {
          list_changed_.Increment();
          catalog_at_ = TimePoint{};  // stale: the next call fetches the list again
          log::debug("upstream_tools_changed", {{"server", server_.name}});
        }
      };
      json params = {{"notifications", {{"toolsListChanged", true}}}};
      ++pooled->inflight;
      auto ended = co_await pooled->session->request("subscriptions/listen", params, options);
      --pooled->inflight;
      listen_gauge_.Set(0);
      if (!pooled->session->alive()) sessions_.evict(pooled, pooled->session->failure_reason());
      if (stopping_) break;
      if (!ended) log::debug("upstream_listen_ended", {{"server", server_.name}, {"error", ended.error().message}});
      failures = acknowledged ? 0 : failures + 1;
    } else {
      ++failures;
    }
    // Listen again, after a backoff when it keeps failing.
    auto delay = backoff_delay(std::max(failures, 1), outbound_.retry, random_unit());
    co_await heartbeat_wake_.wait_until(Clock::now() + delay);
  }
  listen_gauge_.Set(0);
  listening_ = false;
  heartbeat_wake_.notify_all();
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
  // ping, server/discover or a no-I/O tool: nothing that minds being sent twice.
  const RpcOptions options{.deadline = Clock::now() + outbound_.heartbeat_timeout, .idempotent = true};
  ++pooled->inflight;
  Result<json> reply = make_error(ErrorCode::internal, "no heartbeat sent");
  if (server_.heartbeat.tool.empty()) {
    // 2026-07-28 has no ping: server/discover is the cheapest request on the real path.
    const bool stateless = pooled->session->info().era == Era::stateless;
    reply = co_await pooled->session->request(stateless ? "server/discover" : "ping", json::object(), options);
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
  auto capable = std::move(capable_);
  capable_.clear();
  for (auto& [_, session] : capable) co_await session->close(deadline);
  co_await sessions_.close(deadline);
  connections_.close_all();
}

}  // namespace mcp_sidecar::outbound

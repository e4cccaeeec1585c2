#include "inbound/inbound.hpp"

#include "core/file_stamp.hpp"
#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"

namespace mcp_sidecar::inbound {

Inbound::Inbound(asio::any_io_executor ex, const config::Config& config, Metrics& metrics, CallLog& calls)
    : config_(config.inbound),
      metrics_(metrics),
      gate_(ex, config.inbound, config.outbound.case_id, metrics, calls),
      server_(
          ex, "inbound", config.inbound.limits,
          [this](http::Request& req, http::Exchange& exchange) { return gate_.handle(req, exchange); }, metrics) {
  const auto& tls = config_.tls;
  if (!tls.cert_file.empty()) {
    tls::ServerFiles files{tls.cert_file, tls.key_file, tls.client_ca_file,
                           config_.effective_mode() == config::AuthMode::mtls};
    std::vector<std::string> watched = {tls.cert_file, tls.key_file};
    if (!tls.client_ca_file.empty()) watched.push_back(tls.client_ca_file);
    tls_ = std::make_unique<tls::ReloadingContext>("inbound", std::move(watched),
                                                   [files] { return tls::make_server_context(files); });
  }
}

Result<void> Inbound::load_tokens() {
  auto tokens = std::make_shared<Tokens>();
  if (!config_.bearer_tokens_file.empty()) {
    auto loaded = Tokens::load_file(config_.bearer_tokens_file);
    if (!loaded) return std::move(loaded).error();
    *tokens = std::move(loaded).value();
  }
  if (!config_.bearer_token.empty()) tokens->add("default", config_.bearer_token);
  gate_.authenticator().set_tokens(std::move(tokens));
  return {};
}

Result<void> Inbound::listen() {
  tokens_stamp_ = file_stamp({config_.bearer_tokens_file});
  if (auto r = load_tokens(); !r) return r;
  if (tls_) {
    if (auto r = tls_->load(); !r) return make_error(ErrorCode::internal, "inbound TLS: " + r.error().message);
    server_.use_tls([this] { return tls_->current(); });
  }
  const auto mode = config_.effective_mode();
  if (mode == config::AuthMode::none) {
    log::warn("auth_disabled", {{"direction", "inbound"},
                                {"server", config_.name},
                                {"message",
                                 "the inbound gate authenticates NO ONE: every caller is 'anonymous'. "
                                 "Development only; configure tokens or mTLS (require_auth refuses this)."}});
  }
  metrics_.auth_disabled.Add({{"direction", "inbound"}, {"server", config_.name}})
      .Set(mode == config::AuthMode::none ? 1 : 0);
  if (!config_.policy_set)
    log::warn("policy_open", {{"server", config_.name},
                              {"message", "no inbound.policy: every authenticated caller may call every tool"}});
  return server_.listen(config_.listen);
}

void Inbound::start() {
  gate_.start();
  server_.start();
}

bool Inbound::ready(std::string& why) const {
  if (gate_.local_server_ready()) return true;
  why = "the local MCP server does not accept connections";
  return false;
}

void Inbound::check_tokens() {
  if (config_.bearer_tokens_file.empty()) return;
  auto stamp = file_stamp({config_.bearer_tokens_file});
  if (stamp == tokens_stamp_) return;
  tokens_stamp_ = stamp;
  if (auto r = load_tokens(); !r) {
    metrics_.file_reloads_total.Add({{"file", "tokens"}, {"outcome", "error"}}).Increment();
    log::warn("tokens_reload_failed", {{"error", r.error().message}, {"message", "keeping the tokens in use"}});
    return;
  }
  metrics_.file_reloads_total.Add({{"file", "tokens"}, {"outcome", "ok"}}).Increment();
  log::info("tokens_reloaded", {{"file", config_.bearer_tokens_file}});
}

void Inbound::apply(const config::InboundConfig& next) {
  gate_.set_policy(std::make_shared<Policy>(next.policy, next.policy_set));
}

void Inbound::close() {
  gate_.stop();
  server_.close_all();
  gate_.close();
}

}  // namespace mcp_sidecar::inbound

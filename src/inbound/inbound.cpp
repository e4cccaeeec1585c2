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
          [this](http::Request& req, http::Exchange& exchange) { return gate_.handle(req, exchange); }, metrics),
      tokens_file_(config.inbound.bearer_tokens_file),
      mode_(config.inbound.effective_mode()),
      tls_signature_(tls_signature(config.inbound)) {
  if (!config_.tls.cert_file.empty()) {
    auto [files, build] = tls_material(config_);
    tls_ = std::make_unique<tls::ReloadingContext>("inbound", std::move(files), std::move(build));
  }
}

std::string Inbound::tls_signature(const config::InboundConfig& c) {
  return c.tls.cert_file + "|" + c.tls.key_file + "|" + c.tls.client_ca_file + "|" +
         (c.effective_mode() == config::AuthMode::mtls ? "required" : "optional");
}

std::pair<std::vector<std::string>, tls::ReloadingContext::Builder> Inbound::tls_material(
    const config::InboundConfig& config) {
  const auto& tls = config.tls;
  tls::ServerFiles files{tls.cert_file, tls.key_file, tls.client_ca_file,
                         config.effective_mode() == config::AuthMode::mtls};
  std::vector<std::string> watched = {tls.cert_file, tls.key_file};
  if (!tls.client_ca_file.empty()) watched.push_back(tls.client_ca_file);
  return {std::move(watched), [files] { return tls::make_server_context(files); }};
}

Result<void> Inbound::load_tokens() {
  auto tokens = std::make_shared<Tokens>();
  if (!tokens_file_.empty()) {
    auto loaded = Tokens::load_file(tokens_file_);
    if (!loaded) return std::move(loaded).error();
    *tokens = std::move(loaded).value();
  }
  if (!config_.bearer_token.empty()) tokens->add("default", config_.bearer_token);
  gate_.authenticator().set_tokens(std::move(tokens));
  return {};
}

Result<void> Inbound::listen() {
  tokens_stamp_ = file_stamp({tokens_file_});
  if (auto r = load_tokens(); !r) return r;
  if (tls_) {
    if (auto r = tls_->load(); !r) return make_error(ErrorCode::internal, "inbound TLS: " + r.error().message);
    server_.use_tls([this] { return tls_->current(); }, config_.tls.accept_plaintext);
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
  if (config_.tls.accept_plaintext)
    log::warn("plaintext_accepted",
              {{"server", config_.name},
               {"message",
                "the TLS port also serves plain HTTP (bearer callers, unencrypted): an upgrade window; "
                "mcp_sidecar_plaintext_connections_total shows who still uses it"}});
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
  if (tokens_file_.empty()) return;
  auto stamp = file_stamp({tokens_file_});
  if (stamp == tokens_stamp_) return;
  tokens_stamp_ = stamp;
  if (auto r = load_tokens(); !r) {
    metrics_.file_reloads_total.Add({{"file", "tokens"}, {"outcome", "error"}}).Increment();
    log::warn("tokens_reload_failed", {{"error", r.error().message}, {"message", "keeping the tokens in use"}});
    return;
  }
  metrics_.file_reloads_total.Add({{"file", "tokens"}, {"outcome", "ok"}}).Increment();
  log::info("tokens_reloaded", {{"file", tokens_file_}});
}

void Inbound::apply(const config::InboundConfig& next) {
  gate_.set_policy(std::make_shared<Policy>(next.policy, next.policy_set));
  if (next.bearer_tokens_file != tokens_file_) {
    tokens_file_ = next.bearer_tokens_file;
    tokens_stamp_.clear();  // forces the reload below
    check_tokens();
  }
  // The upgrade path: the client CA and the mode change live on a TLS listener.
  const auto mode = next.effective_mode();
  bool reconnect = false;
  const std::string signature = tls_signature(next);
  if (tls_ && !next.tls.cert_file.empty() && signature != tls_signature_) {
    auto [files, build] = tls_material(next);
    if (auto r = tls_->reset(std::move(files), std::move(build)); !r) {
      metrics_.file_reloads_total.Add({{"file", "inbound"}, {"outcome", "error"}}).Increment();
      log::warn("tls_reload_failed", {{"cert", "inbound"},
                                      {"error", r.error().message},
                                      {"message", "keeping the TLS settings and the auth mode in use"}});
      return;
    }
    tls_signature_ = signature;
    reconnect = true;
  }
  if (mode != mode_) {
    log::info("auth_mode_changed", {{"from", config::to_string(mode_)}, {"to", config::to_string(mode)}});
    mode_ = mode;
    gate_.authenticator().set_mode(mode);
    metrics_.auth_disabled.Add({{"direction", "inbound"}, {"server", config_.name}})
        .Set(mode == config::AuthMode::none ? 1 : 0);
  }
  // Existing connections are retired gracefully, so callers reconnect and meet the new settings.
  if (reconnect) server_.retire_connections();
}

void Inbound::close() {
  gate_.stop();
  server_.close_all();
  gate_.close();
}

}  // namespace mcp_sidecar::inbound

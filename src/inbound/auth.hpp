// Who is calling, for the inbound gate: by bearer token, by verified client certificate, or
// both during the upgrade window (mtls-or-bearer: a certificate if presented, which must have
// verified during the handshake; otherwise a token). Every decision is counted in
// mcp_sidecar_auth_total{method,outcome}, which shows how many callers still use bearer.
#pragma once

#include "config/config.hpp"
#include "http/server.hpp"
#include "inbound/tokens.hpp"

#include <memory>
#include <string>

namespace mcp_sidecar {
class Metrics;
}

namespace mcp_sidecar::inbound {

struct Caller {
  std::string identity;  // spiffe://..., a DNS name or CN, "bearer:<name>", or "anonymous"
  std::string method;    // mtls, bearer, none
};

class Authenticator {
 public:
  Authenticator(config::AuthMode mode, Metrics& metrics) : mode_(mode), metrics_(metrics) {}

  // Swapped on reload; the old set stays valid for requests already authenticated.
  void set_tokens(std::shared_ptr<const Tokens> tokens) { tokens_ = std::move(tokens); }
  config::AuthMode mode() const { return mode_; }
  // The upgrade path (bearer -> mtls-or-bearer -> mtls) is a configuration reload.
  void set_mode(config::AuthMode mode) { mode_ = mode; }

  // The caller, or an `unauthenticated` error whose message says why (never the token).
  Result<Caller> authenticate(const http::Request& req, const http::Peer& peer) const;

 private:
  Result<Caller> by_token(const http::Request& req) const;
  void count(std::string_view method, std::string_view outcome) const;

  config::AuthMode mode_;
  Metrics& metrics_;
  std::shared_ptr<const Tokens> tokens_ = std::make_shared<Tokens>();
};

}  // namespace mcp_sidecar::inbound

#include "inbound/auth.hpp"

#include "telemetry/metrics.hpp"

namespace mcp_sidecar::inbound {

namespace bhttp = boost::beast::http;

void Authenticator::count(std::string_view method, std::string_view outcome) const {
  metrics_.counter(metrics_.auth_total, {{"method", method}, {"outcome", outcome}}).Increment();
}

Result<Caller> Authenticator::by_token(const http::Request& req) const {
  auto header = req[bhttp::field::authorization];
  if (header.empty()) {
    count("bearer", "missing_token");
    return make_error(ErrorCode::unauthenticated, "a bearer token is required");
  }
  constexpr std::string_view kScheme = "Bearer ";
  if (header.size() <= kScheme.size() || !boost::beast::iequals(header.substr(0, kScheme.size()), kScheme)) {
    count("bearer", "bad_token");
    return make_error(ErrorCode::unauthenticated, "the Authorization header is not a bearer token");
  }
  auto name = tokens_->match(std::string_view(header.data() + kScheme.size(), header.size() - kScheme.size()));
  if (!name) {
    count("bearer", "bad_token");
    return make_error(ErrorCode::unauthenticated, "the bearer token is not valid");
  }
  count("bearer", "ok");
  return Caller{"bearer:" + *name, "bearer"};
}

Result<Caller> Authenticator::authenticate(const http::Request& req, const http::Peer& peer) const {
  switch (mode_) {
    case config::AuthMode::none:
    case config::AuthMode::auto_detect:  // resolved before construction; treated as none
      count("none", "disabled");
      return Caller{"anonymous", "none"};
    case config::AuthMode::bearer:
      return by_token(req);
    case config::AuthMode::mtls:
      if (peer.identity.empty()) {
        count("mtls", "no_certificate");
        return make_error(ErrorCode::unauthenticated, "a client certificate is required");
      }
      count("mtls", "ok");
      return Caller{peer.identity, "mtls"};
    case config::AuthMode::mtls_or_bearer:
      // A certificate that failed verification never got here: the handshake refused it.
      if (!peer.identity.empty()) {
        count("mtls", "ok");
        return Caller{peer.identity, "mtls"};
      }
      return by_token(req);
  }
  return make_error(ErrorCode::unauthenticated, "unknown authentication mode");
}

}  // namespace mcp_sidecar::inbound

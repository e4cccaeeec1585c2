#include "admin/admin.hpp"

#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"

#include <boost/url/parse.hpp>

namespace mcp_sidecar::admin {

namespace bhttp = boost::beast::http;

bool Health::ready(nlohmann::json& failing) const {
  failing = nlohmann::json::object();
  if (shutting_down_) failing["shutdown"] = "shutting down";
  for (const auto& [name, check] : checks_) {
    std::string why;
    if (!check(why)) failing[name] = why;
  }
  return failing.empty();
}

Admin::Admin(asio::any_io_executor ex, const config::AdminConfig& config, Metrics& metrics, CallLog& calls,
             Health& health)
    : config_(config),
      metrics_(metrics),
      calls_(calls),
      health_(health),
      server_(
          ex, "admin", config.limits, [this](http::Request& req, http::Exchange& x) { return handle(req, x); },
          metrics) {}

asio::awaitable<void> Admin::handle(http::Request& req, http::Exchange& ex) {
  co_await ex.respond(answer(req, ex.remote()));
}

namespace {
bool is_loopback(const asio::ip::address& a) {
  if (a.is_loopback()) return true;
  return a.is_v6() && a.to_v6().is_v4_mapped() &&
         asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).is_loopback();
}
}  // namespace

http::Response Admin::answer(const http::Request& req, const asio::ip::tcp::endpoint& remote) {
  const unsigned version = req.version();
  auto error = [&](ErrorCode code, std::string message) {
    return http::make_json_response(http_status(code), error_body({code, std::move(message)}), version);
  };
  auto json = [&](unsigned status, const nlohmann::json& body) {
    return http::make_json_response(status, body, version);
  };
  auto target = boost::urls::parse_origin_form(req.target());
  if (!target) return error(ErrorCode::bad_request, "malformed request target");
  const std::string path = target->path();
  const auto method = req.method();
  const bool get = method == bhttp::verb::get;

  if (path == "/healthz") {
    if (!get) return error(ErrorCode::method_not_allowed, "use GET");
    return json(200, {{"status", "ok"}});
  }
  if (path == "/readyz") {
    if (!get) return error(ErrorCode::method_not_allowed, "use GET");
    nlohmann::json failing;
    bool ok = health_.ready(failing);
    nlohmann::json body = {{"status", ok ? "ready" : "not_ready"}};
    if (!ok) body["failing"] = failing;
    return json(ok ? 200 : 503, body);
  }
  if (path == "/metrics") {
    if (!get) return error(ErrorCode::method_not_allowed, "use GET");
    return http::make_response(200, metrics_.serialize(), "text/plain; version=0.0.4; charset=utf-8", version);
  }
  if (!path.starts_with("/debug/")) return error(ErrorCode::not_found, "no such endpoint");
  if (!is_loopback(remote.address())) return error(ErrorCode::forbidden, "debug endpoints answer loopback peers only");

  std::string_view name = std::string_view(path).substr(7);
  auto params = target->params();
  if (name == "calls") {
    if (!get) return error(ErrorCode::method_not_allowed, "use GET");
    auto it = params.find("case_id");
    if (it == params.end() || (*it).value.empty())
      return error(ErrorCode::bad_request, "case_id query parameter required");
    std::string case_id = (*it).value;
    nlohmann::json calls = nlohmann::json::array();
    for (const auto& r : calls_.by_case(case_id)) calls.push_back(to_json(r));
    return json(200, {{"case_id", case_id}, {"calls", std::move(calls)}});
  }
  if (name == "log-level") {
    if (method == bhttp::verb::put || method == bhttp::verb::post) {
      auto it = params.find("level");
      if (it == params.end() || !log::set_level((*it).value))
        return error(ErrorCode::bad_request, "level must be one of trace, debug, info, warn, error");
      log::info("log_level_changed", {{"level", log::level_name()}});
    } else if (!get) {
      return error(ErrorCode::method_not_allowed, "use GET, PUT or POST");
    }
    return json(200, {{"level", log::level_name()}});
  }
  if (auto view = views_.find(name); view != views_.end()) {
    if (!get) return error(ErrorCode::method_not_allowed, "use GET");
    return json(200, view->second());
  }
  return error(ErrorCode::not_found, "no such endpoint");
}

}  // namespace mcp_sidecar::admin

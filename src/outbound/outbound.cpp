#include "outbound/outbound.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include <random>

namespace mcp_sidecar::outbound {

namespace {
std::vector<std::unique_ptr<Upstream>> make_upstreams(asio::any_io_executor ex, const config::Config& config,
                                                      Metrics& metrics, const std::string& version) {
  std::vector<std::unique_ptr<Upstream>> out;
  for (const auto& server : config.outbound.servers)
    out.push_back(std::make_unique<Upstream>(ex, config.outbound, server, metrics, version));
  return out;
}

std::map<std::string, Upstream*, std::less<>> index(const std::vector<std::unique_ptr<Upstream>>& upstreams) {
  std::map<std::string, Upstream*, std::less<>> m;
  for (const auto& u : upstreams) m.emplace(u->name(), u.get());
  return m;
}

std::function<std::uint64_t()> random64() {
  auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [rng] { return (*rng)(); };
}
}  // namespace

Outbound::Outbound(asio::any_io_executor ex, const config::Config& config, Metrics& metrics, CallLog& calls,
                   std::string version)
    : config_(config),
      upstreams_(make_upstreams(ex, config, metrics, version)),
      api_(config.outbound, index(upstreams_), metrics, calls, random64(), version),
      server_(
          ex, "outbound", config.outbound.limits,
          [this](http::Request& req, http::Exchange& exchange) { return api_.handle(req, exchange); }, metrics) {}

Result<void> Outbound::listen() {
  for (auto& u : upstreams_)
    if (auto r = u->load(); !r) return r;
  return server_.listen(config_.outbound.listen);
}

std::vector<tls::ReloadingContext*> Outbound::tls_contexts() {
  std::vector<tls::ReloadingContext*> out;
  for (auto& u : upstreams_)
    if (auto* c = u->tls_context()) out.push_back(c);
  return out;
}

json Outbound::debug_pools() const {
  json servers = json::array();
  for (const auto& u : upstreams_) servers.push_back(u->debug());
  return {{"servers", servers}};
}

asio::awaitable<void> Outbound::close(TimePoint deadline) {
  server_.close_all();
  api_.close_sessions();
  // Every upstream closes its sessions at the same time.
  auto ex = co_await asio::this_coro::executor;
  struct Pending {
    explicit Pending(asio::any_io_executor e, int n) : count(n), done(e) {}
    int count;
    Notifier done;
  };
  auto pending = std::make_shared<Pending>(ex, static_cast<int>(upstreams_.size()));
  for (auto& u : upstreams_) {
    asio::co_spawn(
        ex,
        [pending, up = u.get(), deadline]() -> asio::awaitable<void> {
          co_await up->stop(deadline);
          co_await up->close(deadline);
          if (--pending->count == 0) pending->done.notify_all();
        },
        asio::detached);
  }
  const auto give_up = deadline + std::chrono::seconds(1);
  while (pending->count > 0 && Clock::now() < give_up) co_await pending->done.wait_until(give_up);
}

}  // namespace mcp_sidecar::outbound

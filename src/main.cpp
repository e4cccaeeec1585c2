// mcp-sidecar: wires the roles together and runs them on one event loop.
//   mcp-sidecar [--config PATH]            run the roles the configuration enables
//   mcp-sidecar --check-config [--config PATH]   validate, print the effective config, exit 0/1
#include "admin/admin.hpp"
#include "config/config.hpp"
#include "outbound/outbound.hpp"
#include "telemetry/call_log.hpp"
#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>

#ifndef MCP_SIDECAR_VERSION
#define MCP_SIDECAR_VERSION "dev"
#endif

namespace {

using namespace mcp_sidecar;
constexpr const char* kDefaultConfig = "/etc/mcp-sidecar/config.yaml";
constexpr const char* kUsage =
    "usage: mcp-sidecar [--config PATH] [--check-config] [--version]\n"
    "  --config PATH    configuration file (default $MCP_CONFIG, else /etc/mcp-sidecar/config.yaml if present)\n"
    "  --check-config   validate the configuration, print it with secrets redacted, exit 0 or 1\n"
    "Environment overrides: see docs/configuration.md (MCP_SERVERS, MCP_POOL_SIZE, MCP_BEARER_TOKEN, ...)\n";

struct Args {
  std::optional<std::string> config;
  bool check = false;
  bool version = false;
};

std::optional<Args> parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--config" && i + 1 < argc)
      a.config = argv[++i];
    else if (arg.starts_with("--config="))
      a.config = std::string(arg.substr(9));
    else if (arg == "--check-config")
      a.check = true;
    else if (arg == "--version")
      a.version = true;
    else
      return std::nullopt;
  }
  return a;
}

// Raises the soft file-descriptor limit to the hard one: a proxy's connections are its fds.
void raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

std::string address_of(const asio::ip::tcp::endpoint& ep) {
  auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

// Not ready -> keep serving local calls for shutdown.delay -> stop accepting -> drain in-flight
// calls up to shutdown.grace -> cancel the rest -> close upstream sessions -> stop.
asio::awaitable<void> run_shutdown(asio::signal_set& signals, const config::Config& config, admin::Health& health,
                                   outbound::Outbound* outbound, admin::Admin* admin) {
  auto [ec, signo] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
  if (ec) co_return;
  log::info("shutdown_started", {{"signal", signo == SIGTERM ? "SIGTERM" : "SIGINT"},
                                 {"delay_seconds", config.shutdown.delay.count() / 1000.0},
                                 {"grace_seconds", config.shutdown.grace.count() / 1000.0}});
  health.set_shutting_down();
  if (config.shutdown.delay.count() > 0) co_await sleep_for(config.shutdown.delay);
  if (outbound) {
    outbound->stop_accepting();
    outbound->drain();
    co_await outbound->wait_idle(Clock::now() + config.shutdown.grace);
    if (auto left = outbound->connections(); left > 0) {
      // Grace is over: calls still in flight are cancelled; their callers get a 503.
      log::warn("shutdown_cancelling", {{"connections", left}});
      outbound->cancel_inflight();
      co_await outbound->wait_idle(Clock::now() + std::chrono::seconds(1));
    }
    co_await outbound->close(Clock::now() + config.shutdown.close_timeout);
  }
  if (admin) admin->stop();
  signals.cancel();
  log::info("shutdown_complete");
}

}  // namespace

int main(int argc, char** argv) {
  auto args = parse_args(argc, argv);
  if (!args) {
    std::cerr << kUsage;
    return 2;
  }
  if (args->version) {
    std::cout << "mcp-sidecar " << MCP_SIDECAR_VERSION << "\n";
    return 0;
  }

  auto env = config::process_env();
  std::string path = args->config.value_or(env("MCP_CONFIG").value_or(""));
  config::LoadResult loaded;
  if (!path.empty())
    loaded = config::load_file(path, env);
  else if (std::filesystem::exists(kDefaultConfig))
    loaded = config::load_file(kDefaultConfig, env);
  else
    loaded = config::load("", "(defaults)", env);
  if (!loaded.config) {
    for (const auto& e : loaded.errors) std::cerr << "mcp-sidecar: config error: " << e << "\n";
    return 1;
  }
  const config::Config& config = *loaded.config;
  if (!config.outbound.enabled) {
    std::cerr << "mcp-sidecar: config error: no role enabled (add an outbound: section or set MCP_SERVERS)\n";
    return 1;
  }
  if (args->check) {
    std::cout << config::to_yaml(config);
    std::cerr << "mcp-sidecar: configuration OK (" << config.source << ")\n";
    return 0;
  }

  log::init(config.log.level);
  std::signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();

  asio::io_context ioc(1);
  Metrics metrics(MCP_SIDECAR_VERSION);
  log::set_suppression_hook([&counter = metrics.log_suppressed_total.Add({})] { counter.Increment(); });
  CallLog calls(static_cast<std::size_t>(config.admin.recent_calls));
  admin::Health health;
  std::optional<outbound::Outbound> outbound;
  std::optional<admin::Admin> admin;

  log::info("starting", {{"version", MCP_SIDECAR_VERSION}, {"config", config.source}});
  nlohmann::json no_credentials = nlohmann::json::array();
  for (const auto& s : config.outbound.servers)
    if (config.outbound.bearer_token_of(s).empty()) no_credentials.push_back(s.name);
  if (!no_credentials.empty())
    log::warn("auth_disabled", {{"direction", "outbound"},
                                {"servers", no_credentials},
                                {"message",
                                 "MCP_BEARER_TOKEN is empty: upstream calls carry NO credentials. "
                                 "Development only; set MCP_BEARER_TOKEN (or bearer_token_file)."}});

  outbound.emplace(ioc.get_executor(), config, metrics, calls, MCP_SIDECAR_VERSION);
  if (auto r = outbound->listen(); !r) {
    log::error("listen_failed", {{"role", "outbound"}, {"error", r.error().message}});
    return 1;
  }
  if (config.admin.enabled) {
    admin.emplace(ioc.get_executor(), config.admin, metrics, calls, health);
    admin->add_view("pools", [&] { return outbound->debug_pools(); });
    admin->add_view("config", [&] { return config::to_json(config, true); });
    if (auto r = admin->listen(); !r) {
      log::error("listen_failed", {{"role", "admin"}, {"error", r.error().message}});
      return 1;
    }
    admin->start();
    log::info("listening", {{"role", "admin"}, {"address", address_of(admin->local_endpoint())}});
  }
  outbound->start();
  log::info("listening", {{"role", "outbound"},
                          {"address", address_of(outbound->local_endpoint())},
                          {"servers", config.outbound.servers.size()}});

  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  asio::co_spawn(ioc, run_shutdown(signals, config, health, &*outbound, admin ? &*admin : nullptr), asio::detached);
  log::info("ready");
  ioc.run();
  return 0;
}

// mcp-sidecar: wires the roles together and runs them on one event loop.
//   mcp-sidecar [--config PATH]            run the roles the configuration enables
//   mcp-sidecar --check-config [--config PATH]   validate, print the effective config, exit 0/1
//   mcp-sidecar inject -f FILE|- [--image IMAGE]   add the sidecar to annotated manifests (stdout)
//   mcp-sidecar inject --webhook [--config PATH] [--check-config]   the admission webhook
#include "admin/admin.hpp"
#include "config/config.hpp"
#include "core/file_stamp.hpp"
#include "inbound/inbound.hpp"
#include "inject/manifests.hpp"
#include "inject/webhook.hpp"
#include "outbound/outbound.hpp"
#include "telemetry/call_log.hpp"
#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"
#include "version.hpp"  // generated at build time: src/version.cmake

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <utility>

namespace {

using namespace mcp_sidecar;
constexpr const char* kDefaultConfig = "/etc/mcp-sidecar/config.yaml";
constexpr const char* kUsage =
    "usage: mcp-sidecar [--config PATH] [--check-config] [--version]\n"
    "  --config PATH    configuration file (default $MCP_CONFIG, else /etc/mcp-sidecar/config.yaml if present)\n"
    "  --check-config   validate the configuration, print it with secrets redacted, exit 0 or 1\n"
    "Environment overrides: see docs/configuration.md (MCP_SERVERS, MCP_POOL_SIZE, MCP_BEARER_TOKEN, ...)\n"
    "       mcp-sidecar inject ...   the sidecar injector (mcp-sidecar inject --help)\n";
constexpr const char* kInjectUsage =
    "usage: mcp-sidecar inject -f FILE [-f FILE...] [--image IMAGE]\n"
    "       mcp-sidecar inject --webhook [--config PATH] [--check-config]\n"
    "  -f, --filename FILE  Kubernetes YAML to read (- for stdin); pod templates annotated\n"
    "                       mcp-sidecar.io/inject: \"true\" get the sidecar; the result goes to stdout\n"
    "  --image IMAGE        the sidecar image unless a pod says otherwise (default $MCP_INJECT_IMAGE,\n"
    "                       else mcp-sidecar:0.1.0)\n"
    "  --webhook            serve the mutating admission webhook (the config's inject: section)\n"
    "  --config PATH        with --webhook: the configuration file (default $MCP_CONFIG, else\n"
    "                       /etc/mcp-sidecar/config.yaml)\n"
    "  --check-config       with --webhook: validate, print the effective config, exit 0 or 1\n"
    "Exit status: 0 done, 1 bad input (the message names the document, object and annotation), 2 usage.\n"
    "See docs/injection.md.\n";

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

struct Roles {
  std::optional<outbound::Outbound> outbound;
  std::optional<inbound::Inbound> inbound;
  std::optional<inject::Webhook> inject;
  std::optional<admin::Admin> admin;
};

// Keeps what lives in files current: TLS material and tokens (each re-read when it changes; a
// bad file keeps the old one), and the configuration file itself (its live parts apply, the
// rest is reported as needing a restart).
class Watcher {
 public:
  Watcher(asio::any_io_executor ex, const config::Config& config, Metrics& metrics, Roles& roles)
      : config_(config), metrics_(metrics), roles_(roles), wake_(std::make_unique<Notifier>(ex)) {
    if (roles.inbound && roles.inbound->tls_context()) contexts_.push_back(roles.inbound->tls_context());
    if (roles.inject) contexts_.push_back(roles.inject->tls_context());
    if (roles.outbound)
      for (auto* c : roles.outbound->tls_contexts()) contexts_.push_back(c);
    for (auto* c : contexts_) report_expiry(*c);
    if (config.source != "(defaults)") config_stamp_ = file_stamp({config.source});
  }

  asio::awaitable<void> run() {
    while (!stopping_) {
      co_await wake_->wait_until(Clock::now() + config_.reload.interval);
      if (stopping_) break;
      check();
    }
  }
  void stop() {
    stopping_ = true;
    wake_->notify_all();
  }

  void check() {
    for (auto* c : contexts_) {
      switch (c->check()) {
        case tls::ReloadingContext::Check::unchanged:
          break;
        case tls::ReloadingContext::Check::reloaded:
          metrics_.file_reloads_total.Add({{"file", c->name()}, {"outcome", "ok"}}).Increment();
          log::info("tls_reloaded", {{"cert", c->name()}});
          report_expiry(*c);
          break;
        case tls::ReloadingContext::Check::failed:
          metrics_.file_reloads_total.Add({{"file", c->name()}, {"outcome", "error"}}).Increment();
          log::warn("tls_reload_failed",
                    {{"cert", c->name()}, {"error", c->last_error()}, {"message", "keeping the material in use"}});
          break;
      }
    }
    if (roles_.inbound) roles_.inbound->check_tokens();
    check_config();
  }

 private:
  void report_expiry(const tls::ReloadingContext& c) {
    if (auto t = c.expiry())
      metrics_.cert_expiry_timestamp_seconds.Add({{"cert", c.name()}}).Set(static_cast<double>(*t));
  }

  void check_config() {
    if (config_stamp_.empty()) return;
    auto stamp = file_stamp({config_.source});
    if (stamp == config_stamp_) return;
    config_stamp_ = stamp;
    auto next = config::load_file(config_.source, config::process_env());
    if (!next.config) {
      metrics_.config_reloads_total.Add({{"outcome", "error"}}).Increment();
      log::warn("config_reload_failed", {{"errors", next.errors}, {"message", "keeping the configuration in use"}});
      return;
    }
    // Live: the inbound policy and the log level. Everything else is reported.
    if (roles_.inbound) roles_.inbound->apply(next.config->inbound);
    if (next.config->log.level != log::level_name()) log::set_level(next.config->log.level);
    auto before = config::to_json(config_, true);
    auto after = config::to_json(*next.config, true);
    before["log"].erase("level");
    after["log"].erase("level");
    for (auto* j : {&before, &after}) {
      if (!j->contains("inbound")) continue;
      (*j)["inbound"].erase("policy");
      (*j)["inbound"]["auth"].erase("mode");
      (*j)["inbound"]["auth"].erase("bearer_tokens_file");
      (*j)["inbound"]["auth"]["tls"].erase("client_ca_file");
    }
    nlohmann::json restart = nlohmann::json::array();
    for (const auto& op : nlohmann::json::diff(before, after)) restart.push_back(op["path"]);
    metrics_.config_reloads_total.Add({{"outcome", "ok"}}).Increment();
    log::info("config_reloaded", {{"applied",
                                   {"inbound.policy", "inbound.auth.mode", "inbound.auth.bearer_tokens_file",
                                    "inbound.auth.tls.client_ca_file", "log.level"}}});
    if (!restart.empty())
      log::warn("config_restart_required", {{"changed", restart}, {"message", "these changes apply after a restart"}});
  }

  const config::Config& config_;
  Metrics& metrics_;
  Roles& roles_;
  std::vector<tls::ReloadingContext*> contexts_;
  std::string config_stamp_;
  std::unique_ptr<Notifier> wake_;
  bool stopping_ = false;
};

// Not ready -> keep serving for shutdown.delay (the app in the pod may still be finishing; the
// endpoint leaves the Service meanwhile) -> stop accepting -> drain in-flight calls up to
// shutdown.grace -> cancel the rest -> close upstream sessions -> stop.
asio::awaitable<void> run_shutdown(asio::signal_set& signals, const config::Config& config, admin::Health& health,
                                   Roles& roles, Watcher& watcher) {
  auto [ec, signo] = co_await signals.async_wait(asio::as_tuple(asio::use_awaitable));
  if (ec) co_return;
  log::info("shutdown_started", {{"signal", signo == SIGTERM ? "SIGTERM" : "SIGINT"},
                                 {"delay_seconds", config.shutdown.delay.count() / 1000.0},
                                 {"grace_seconds", config.shutdown.grace.count() / 1000.0}});
  health.set_shutting_down();
  if (config.shutdown.delay.count() > 0) co_await sleep_for(config.shutdown.delay);
  auto& out = roles.outbound;
  auto& in = roles.inbound;
  auto& inj = roles.inject;
  if (out) out->stop_accepting(), out->drain();
  if (in) in->stop_accepting(), in->drain();
  if (inj) inj->stop_accepting(), inj->drain();
  const auto grace_end = Clock::now() + config.shutdown.grace;
  if (out) co_await out->wait_idle(grace_end);
  if (in) co_await in->wait_idle(grace_end);
  if (inj) co_await inj->wait_idle(grace_end);
  const std::size_t left =
      (out ? out->connections() : 0) + (in ? in->connections() : 0) + (inj ? inj->connections() : 0);
  if (left > 0) {
    // Grace is over: calls still in flight are cancelled; their callers get a 503.
    log::warn("shutdown_cancelling", {{"connections", left}});
    if (out) out->cancel_inflight();
    if (in) in->cancel_inflight();
    const auto cut = Clock::now() + std::chrono::seconds(1);
    if (out) co_await out->wait_idle(cut);
    if (in) co_await in->wait_idle(cut);
  }
  if (in) in->close();
  if (inj) inj->close();
  if (out) co_await out->close(Clock::now() + config.shutdown.close_timeout);
  if (roles.admin) roles.admin->stop();
  watcher.stop();
  signals.cancel();
  log::info("shutdown_complete");
}

// The configuration: --config, else $MCP_CONFIG, else the default file if present, else defaults.
std::optional<config::Config> load_config(const std::optional<std::string>& config_arg) {
  auto env = config::process_env();
  std::string path = config_arg.value_or(env("MCP_CONFIG").value_or(""));
  config::LoadResult loaded;
  if (!path.empty())
    loaded = config::load_file(path, env);
  else if (std::filesystem::exists(kDefaultConfig))
    loaded = config::load_file(kDefaultConfig, env);
  else
    loaded = config::load("", "(defaults)", env);
  if (!loaded.config)
    for (const auto& e : loaded.errors) std::cerr << "mcp-sidecar: config error: " << e << "\n";
  return std::move(loaded.config);
}

// --check-config: the effective configuration, secrets redacted, on stdout.
int print_checked(const config::Config& config) {
  std::cout << config::to_yaml(config);
  std::cerr << "mcp-sidecar: configuration OK (" << config.source << ")\n";
  return 0;
}

// Runs the roles the configuration enables until SIGTERM/SIGINT: the sidecar's (outbound,
// inbound) or the injector's (inject: the two never share a process); the admin listener and the
// file watcher in both.
int serve(const config::Config& config) {
  log::init(config.log.level);
  std::signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();

  // One thread runs everything: the reactor's per-socket locks are dropped (UNSAFE_IO). The
  // scheduler keeps its lock, which the resolver's thread needs to hand its answers back.
  asio::io_context ioc(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
  Metrics metrics(MCP_SIDECAR_VERSION);
  log::set_suppression_hook([&counter = metrics.log_suppressed_total.Add({})] { counter.Increment(); });
  CallLog calls(static_cast<std::size_t>(config.admin.recent_calls));
  admin::Health health;
  Roles roles;

  log::info("starting", {{"version", MCP_SIDECAR_VERSION}, {"config", config.source}});
  auto fail = [](std::string_view role, const Error& e) {
    log::error("startup_failed", {{"role", role}, {"error", e.message}});
    return 1;
  };
  if (config.outbound.enabled) {
    nlohmann::json no_credentials = nlohmann::json::array();
    for (const auto& s : config.outbound.servers)
      if (config.outbound.bearer_token_of(s).empty() && s.tls.cert_file.empty()) no_credentials.push_back(s.name);
    if (!no_credentials.empty())
      log::warn("auth_disabled", {{"direction", "outbound"},
                                  {"servers", no_credentials},
                                  {"message",
                                   "MCP_BEARER_TOKEN is empty: upstream calls carry NO credentials. "
                                   "Development only; set MCP_BEARER_TOKEN (or bearer_token_file)."}});
    roles.outbound.emplace(ioc.get_executor(), config, metrics, calls, MCP_SIDECAR_VERSION);
    if (auto r = roles.outbound->listen(); !r) return fail("outbound", r.error());
  }
  if (config.inbound.enabled) {
    roles.inbound.emplace(ioc.get_executor(), config, metrics, calls);
    if (auto r = roles.inbound->listen(); !r) return fail("inbound", r.error());
    health.add_check("local_server", [&](std::string& why) { return roles.inbound->ready(why); });
  }
  if (config.inject.enabled) {
    roles.inject.emplace(ioc.get_executor(), config.inject, metrics);
    if (auto r = roles.inject->listen(); !r) return fail("inject", r.error());
  }
  if (config.admin.enabled) {
    roles.admin.emplace(ioc.get_executor(), config.admin, metrics, calls, health);
    if (roles.outbound) roles.admin->add_view("pools", [&] { return roles.outbound->debug_pools(); });
    roles.admin->add_view("config", [&] { return config::to_json(config, true); });
    if (auto r = roles.admin->listen(); !r) return fail("admin", r.error());
    roles.admin->start();
    log::info("listening", {{"role", "admin"}, {"address", address_of(roles.admin->local_endpoint())}});
  }
  if (roles.outbound) {
    roles.outbound->start();
    log::info("listening", {{"role", "outbound"},
                            {"address", address_of(roles.outbound->local_endpoint())},
                            {"servers", config.outbound.servers.size()}});
  }
  if (roles.inbound) {
    roles.inbound->start();
    log::info("listening", {{"role", "inbound"},
                            {"address", address_of(roles.inbound->local_endpoint())},
                            {"tls", !config.inbound.tls.cert_file.empty()},
                            {"auth", config::to_string(config.inbound.effective_mode())},
                            {"forward_to", config.inbound.forward_to}});
  }

  if (roles.inject) {
    roles.inject->start();
    log::info(
        "listening",
        {{"role", "inject"}, {"address", address_of(roles.inject->local_endpoint())}, {"image", config.inject.image}});
  }

  Watcher watcher(ioc.get_executor(), config, metrics, roles);
  asio::co_spawn(ioc, watcher.run(), asio::detached);
  // From "ready" on the loop's lines are written in batches (log::batch_with) until the shutdown
  // sequence ends; its end writes what is kept and stops the timer, which would keep the loop.
  asio::steady_timer log_flush(ioc);
  bool flush_due = false;  // the timer runs: what lands in the batch goes out with its flush
  asio::signal_set signals(ioc, SIGINT, SIGTERM);
  asio::co_spawn(ioc, run_shutdown(signals, config, health, roles, watcher), [&log_flush](std::exception_ptr) {
    log::batch_with(nullptr);
    log_flush.cancel();
  });
  log::info("ready");
  log::batch_with([&ioc, &log_flush, &flush_due, interval = config.log.flush_interval] {
    if (interval.count() == 0) return asio::post(ioc, [] { log::flush(); });
    if (std::exchange(flush_due, true)) return;
    log_flush.expires_after(interval);
    log_flush.async_wait([&flush_due](boost::system::error_code) {
      flush_due = false;
      log::flush();
    });
  });
  ioc.run();
  log::batch_with(nullptr);
  return 0;
}

// `mcp-sidecar inject -f FILE...`: every file through the injector, the result on stdout.
int inject_files(const std::vector<std::string>& files, const std::string& image) {
  if (!config::valid_image_reference(image)) {
    std::cerr << "mcp-sidecar inject: --image: expected an image reference such as mcp-sidecar:0.1.0\n";
    return 1;
  }
  std::string out;
  for (const auto& file : files) {
    std::ostringstream text;
    if (file == "-") {
      text << std::cin.rdbuf();
    } else {
      std::ifstream in(file, std::ios::binary);
      if (!in || std::filesystem::is_directory(file)) {
        std::cerr << "mcp-sidecar inject: " << file << ": cannot read the file\n";
        return 1;
      }
      text << in.rdbuf();
    }
    auto result = inject::inject_manifests(text.str(), inject::Settings{image});
    if (!result) {
      std::istringstream lines(result.error().message);
      for (std::string line; std::getline(lines, line);)
        std::cerr << "mcp-sidecar inject: " << (file == "-" ? "stdin" : file) << ": " << line << "\n";
      return 1;
    }
    if (!out.empty() && !result->yaml.empty()) out += "---\n";
    out += result->yaml;
  }
  std::cout << out << std::flush;
  return std::cout ? 0 : 1;
}

int inject_command(int argc, char** argv) {
  std::vector<std::string> files;
  std::optional<std::string> image;
  std::optional<std::string> config_path;
  bool webhook = false;
  bool check = false;
  for (int i = 2; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](std::string_view name) -> std::optional<std::string> {
      if (arg == name && i + 1 < argc) return std::string(argv[++i]);
      if (arg.size() > name.size() && arg.starts_with(name) && arg[name.size()] == '=')
        return std::string(arg.substr(name.size() + 1));
      return std::nullopt;
    };
    if (auto f = value("-f"))
      files.push_back(*f);
    else if (auto f2 = value("--filename"))
      files.push_back(*f2);
    else if (auto im = value("--image"))
      image = *im;
    else if (auto c = value("--config"))
      config_path = *c;
    else if (arg == "--webhook")
      webhook = true;
    else if (arg == "--check-config")
      check = true;
    else if (arg == "--help" || arg == "-h")
      return std::cout << kInjectUsage, 0;
    else
      return std::cerr << kInjectUsage, 2;
  }
  if (webhook == !files.empty() || (!webhook && (config_path || check)) || (webhook && image)) {
    std::cerr << kInjectUsage;
    return 2;
  }
  if (!webhook)
    return inject_files(
        files, image.value_or(config::process_env()("MCP_INJECT_IMAGE").value_or(config::InjectConfig().image)));

  auto config = load_config(config_path);
  if (!config) return 1;
  if (!config->inject.enabled) {
    std::cerr << "mcp-sidecar: config error: " << config->source
              << ": the webhook needs an inject: section (inject.tls.cert_file and key_file at least)\n";
    return 1;
  }
  if (config->outbound.enabled || config->inbound.enabled) {
    std::cerr << "mcp-sidecar: config error: " << config->source
              << ": the webhook runs alone: no outbound: or inbound: section (nor MCP_SERVERS, "
                 "MCP_INBOUND_LISTEN, MCP_INBOUND_FORWARD_TO)\n";
    return 1;
  }
  if (check) return print_checked(*config);
  return serve(*config);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "inject") return inject_command(argc, argv);
  auto args = parse_args(argc, argv);
  if (!args) {
    std::cerr << kUsage;
    return 2;
  }
  if (args->version) {
    std::cout << "mcp-sidecar " << MCP_SIDECAR_VERSION << "\n";
    return 0;
  }
  auto config = load_config(args->config);
  if (!config) return 1;
  if (!config->outbound.enabled && !config->inbound.enabled) {
    std::cerr << "mcp-sidecar: config error: no role enabled (add an outbound: or inbound: section, or set "
                 "MCP_SERVERS or MCP_INBOUND_FORWARD_TO)\n";
    return 1;
  }
  if (config->inject.enabled) {
    std::cerr << "mcp-sidecar: config error: " << config->source
              << ": the inject: section is served by `mcp-sidecar inject --webhook`, apart from the sidecar\n";
    return 1;
  }
  if (args->check) return print_checked(*config);
  return serve(*config);
}

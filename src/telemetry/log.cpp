#include "telemetry/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace mcp_sidecar::log {

namespace {
std::shared_ptr<spdlog::logger>& logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto l = std::make_shared<spdlog::logger>("mcp-sidecar", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    // The message is the rest of a JSON object (already escaped); ts and level are safe text.
    l->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ",%v)", spdlog::pattern_time_type::utc);
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return instance;
}

spdlog::level::level_enum to_spd(Level level) {
  switch (level) {
    case Level::trace:
      return spdlog::level::trace;
    case Level::debug:
      return spdlog::level::debug;
    case Level::info:
      return spdlog::level::info;
    case Level::warn:
      return spdlog::level::warn;
    case Level::error:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}
std::function<void()>& suppression_hook() {
  static std::function<void()> hook;
  return hook;
}
}  // namespace

void set_suppression_hook(std::function<void()> hook) { suppression_hook() = std::move(hook); }

void init(std::string_view level) {
  logger();
  set_level(level);
}

bool set_level(std::string_view level) {
  static const std::pair<std::string_view, Level> kLevels[] = {{"trace", Level::trace},
                                                               {"debug", Level::debug},
                                                               {"info", Level::info},
                                                               {"warn", Level::warn},
                                                               {"error", Level::error}};
  for (auto [name, l] : kLevels) {
    if (name == level) {
      logger()->set_level(to_spd(l));
      return true;
    }
  }
  return false;
}

std::string_view level_name() {
  switch (logger()->level()) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    default:
      return "error";
  }
}

bool enabled(Level level) { return logger()->should_log(to_spd(level)); }

void write(Level level, std::string_view event, const nlohmann::json& fields) {
  auto& l = logger();
  if (!l->should_log(to_spd(level))) return;
  static constexpr std::string_view kNames[] = {"trace", "debug", "info", "warn", "error"};
  std::string line = "\"level\":\"";
  line += kNames[static_cast<int>(level)];
  line += "\",\"event\":";
  line += nlohmann::json(event).dump();
  if (fields.is_object()) {
    for (const auto& [k, v] : fields.items()) {
      line += ',';
      line += nlohmann::json(k).dump();
      line += ':';
      line += v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  }
  l->log(to_spd(level), "{}}}", line);
}

bool RateLimited::warn(const std::string& key, std::string_view event, nlohmann::json fields, Clock::time_point now) {
  auto [it, fresh] = entries_.try_emplace(key);
  Entry& e = it->second;
  if (!fresh && now - e.last < interval_) {
    ++e.suppressed;
    ++suppressed_total_;
    if (auto& hook = suppression_hook()) hook();
    return false;
  }
  if (e.suppressed > 0) fields["suppressed_since_last"] = e.suppressed;
  e.suppressed = 0;
  e.last = now;
  write(Level::warn, event, fields);
  return true;
}

}  // namespace mcp_sidecar::log

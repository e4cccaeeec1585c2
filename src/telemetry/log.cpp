#include "telemetry/log.hpp"

#include "core/json_scan.hpp"
#include "core/json_write.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <mutex>

namespace mcp_sidecar::log {

namespace {
std::shared_ptr<spdlog::logger>& logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto l = std::make_shared<spdlog::logger>("mcp-sidecar", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    // Lines come whole from Line (timestamp included): the pattern adds nothing.
    l->set_pattern("%v");
    l->flush_on(spdlog::level::trace);
    return l;
  }();
  return instance;
}

// "2026-11-27T10:00:00.000Z": the part up to the seconds is formatted once per second.
void append_timestamp(std::string& out) {
  static thread_local std::time_t cached_second = -1;
  static thread_local char prefix[32];
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t second = static_cast<std::time_t>(ms / 1000);
  if (second != cached_second) {
    std::tm tm{};
    gmtime_r(&second, &tm);
    std::strftime(prefix, sizeof prefix, "%Y-%m-%dT%H:%M:%S.", &tm);
    cached_second = second;
  }
  const int millis = static_cast<int>(ms % 1000);
  out += prefix;
  out += static_cast<char>('0' + millis / 100);
  out += static_cast<char>('0' + millis / 10 % 10);
  out += static_cast<char>('0' + millis % 10);
  out += 'Z';
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
// The batch: lines joined by '\n' (spdlog ends the write with the last one).
struct Batch {
  std::mutex mutex;
  std::string lines;
  std::function<void()> schedule;  // empty: no batching
};
Batch& batch() {
  static Batch instance;
  return instance;
}
constexpr std::size_t kMaxBatch = 64 * 1024;

void write_out(std::string_view text) {
  // Lines were filtered by level when built: a batch may hold several levels, written as one.
  logger()->log(spdlog::level::critical, text);
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

Line::Line(Level level, std::string_view event)
    : enabled_(logger()->should_log(to_spd(level))), urgent_(level >= Level::warn) {
  if (!enabled_) return;
  static constexpr std::string_view kNames[] = {"trace", "debug", "info", "warn", "error"};
  text_.reserve(256);
  text_ += R"({"ts":")";
  append_timestamp(text_);
  text_ += R"(","level":")";
  text_ += kNames[static_cast<int>(level)];
  text_ += R"(","event":)";
  append_json_string(text_, event, JsonErrors::replace);
  head_ = text_.size();
}

Line& Line::members(std::string_view text) {
  if (enabled_) text_ += text;
  return *this;
}

std::string_view Line::members_so_far() const { return std::string_view(text_).substr(head_); }

void Line::key(std::string_view k) {
  text_ += ',';
  append_json_string(text_, k, JsonErrors::replace);
  text_ += ':';
}

Line& Line::str(std::string_view k, std::string_view value) {
  if (!enabled_) return *this;
  if (!is_json_plain(k) || !is_json_plain(value)) {
    key(k);
    append_json_string(text_, value, JsonErrors::replace);
    return *this;
  }
  // Nothing to escape (the usual case): `,"key":"value"` in one piece.
  const std::size_t at = text_.size();
  text_.resize(at + k.size() + value.size() + 6);
  char* p = text_.data() + at;
  *p++ = ',';
  *p++ = '"';
  p = std::copy(k.begin(), k.end(), p);
  *p++ = '"';
  *p++ = ':';
  *p++ = '"';
  p = std::copy(value.begin(), value.end(), p);
  *p = '"';
  return *this;
}

Line& Line::millis(std::string_view k, std::chrono::nanoseconds duration) {
  if (!enabled_) return *this;
  key(k);
  const auto us = std::max<std::int64_t>(std::chrono::duration_cast<std::chrono::microseconds>(duration).count(), 0);
  char digits[32];
  char* end = std::to_chars(digits, digits + sizeof digits - 4, us / 1000).ptr;
  const auto fraction = static_cast<int>(us % 1000);
  *end++ = '.';
  *end++ = static_cast<char>('0' + fraction / 100);
  *end++ = static_cast<char>('0' + fraction / 10 % 10);
  *end++ = static_cast<char>('0' + fraction % 10);
  text_.append(digits, end);
  return *this;
}

Line& Line::json(std::string_view k, const nlohmann::json& value) {
  if (!enabled_) return *this;
  key(k);
  append_json(text_, value, JsonErrors::replace);
  return *this;
}

void Line::write() {
  if (!enabled_) return;
  enabled_ = false;
  text_ += '}';
  Batch& b = batch();
  std::unique_lock lock(b.mutex);
  if (!b.schedule) {
    lock.unlock();
    write_out(text_);
    return;
  }
  const bool first = b.lines.empty();
  if (!first) b.lines += '\n';
  b.lines += text_;
  if (urgent_ || b.lines.size() >= kMaxBatch) {
    lock.unlock();
    flush();
  } else if (first) {
    b.schedule();
  }
}

void batch_with(std::function<void()> schedule) {
  flush();
  std::lock_guard lock(batch().mutex);
  batch().schedule = std::move(schedule);
}

void flush() {
  Batch& b = batch();
  std::string out;
  {
    std::lock_guard lock(b.mutex);
    out.swap(b.lines);
  }
  if (!out.empty()) write_out(out);
}

void write(Level level, std::string_view event, const nlohmann::json& fields) {
  Line line(level, event);
  if (!line.enabled()) return;
  if (fields.is_object())
    for (const auto& [k, v] : fields.items()) line.json(k, v);
  line.write();
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

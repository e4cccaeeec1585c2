// Structured logging: one JSON object per line on stderr, written through spdlog.
//   {"ts":"2026-11-27T10:00:00.000Z","level":"info","event":"call_end","case_id":"...",...}
// Callers pass fields as JSON; values that are secrets or PII must never be passed (argument
// values, tokens). Thread-safe (spdlog's mt sink).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace mcp_sidecar::log {

enum class Level { trace, debug, info, warn, error };

// Installs the JSON-lines logger; `level` as in the config (trace..error).
void init(std::string_view level);
bool set_level(std::string_view level);
std::string_view level_name();
bool enabled(Level level);

// One log line built field by field, for the per-call lines: no JSON object is built, string
// values are escaped straight into the line, and nothing is done when the level is off.
//   log::Line(log::Level::info, "call_end").str("case_id", id).millis("duration_ms", elapsed).write();
class Line {
 public:
  Line(Level level, std::string_view event);
  Line& str(std::string_view key, std::string_view value);
  // A duration in milliseconds to the microsecond ("12.345"): the digits a duration has, not the
  // shortest text of a double (0.30000000000000004), which costs twice as much to write.
  Line& millis(std::string_view key, std::chrono::nanoseconds duration);
  Line& json(std::string_view key, const nlohmann::json& value);
  // Members already written as JSON (`,"key":value` each), such as those two lines share.
  Line& members(std::string_view text);
  // The members this line has so far after its event, for another line (empty when off).
  std::string_view members_so_far() const;
  void write();
  bool enabled() const { return enabled_; }

 private:
  void key(std::string_view k);
  bool enabled_;
  bool urgent_;           // warn and error: written at once
  std::size_t head_ = 0;  // where the members after the event start
  std::string text_;
};

void write(Level level, std::string_view event, const nlohmann::json& fields = nlohmann::json::object());
inline void debug(std::string_view event, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::debug, event, f);
}
inline void info(std::string_view event, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::info, event, f);
}
inline void warn(std::string_view event, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::warn, event, f);
}
inline void error(std::string_view event, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::error, event, f);
}

// Batching: the lines made over a short interval in one system call (a proxied call's two lines
// cost two writes on its path otherwise). Once `schedule` is set, a line is kept in a batch
// instead of being written at once; `schedule` is called when a line lands in an empty batch and
// must make flush() run soon (main arms a timer of log.flush_interval_ms). A warning or an error
// is written at once with the lines kept before it, and a batch past 64 KiB is written at once.
// What a crash loses: the info and debug lines of its last interval. An empty `schedule` turns
// batching off (and writes what is kept). Thread-safe.
void batch_with(std::function<void()> schedule);
void flush();

// Called once for every line RateLimited suppresses (main wires it to a metric).
void set_suppression_hook(std::function<void()> hook);

// Rate-limits a repeated warning (an upstream down for an hour): the first occurrence of a key is
// written, then at most one line per `interval` carrying how many were suppressed in between.
// Not thread-safe: one per event loop.
class RateLimited {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateLimited(Clock::duration interval = std::chrono::seconds(30)) : interval_(interval) {}

  // Writes (or counts) a warning; returns true when a line was written.
  bool warn(const std::string& key, std::string_view event, nlohmann::json fields,
            Clock::time_point now = Clock::now());
  std::uint64_t suppressed_total() const { return suppressed_total_; }

 private:
  struct Entry {
    Clock::time_point last;
    std::uint64_t suppressed = 0;
  };
  Clock::duration interval_;
  std::unordered_map<std::string, Entry> entries_;
  std::uint64_t suppressed_total_ = 0;
};

}  // namespace mcp_sidecar::log

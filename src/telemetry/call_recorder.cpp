#include "telemetry/call_recorder.hpp"

#include "telemetry/log.hpp"

namespace mcp_sidecar {

CallRecorder::CallRecorder(Metrics& metrics, CallLog& calls, std::string direction, std::string server,
                           std::string method, std::string tool, std::string case_id)
    : metrics_(metrics), calls_(calls), started_(std::chrono::steady_clock::now()) {
  record_.direction = std::move(direction);
  record_.server = std::move(server);
  record_.method = std::move(method);
  record_.tool = std::move(tool);
  record_.case_id = std::move(case_id);
  record_.started_unix_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
}

CallRecorder::~CallRecorder() {
  try {
    record();      // only an ended call not yet recorded
  } catch (...) {  // out of memory: the call goes unrecorded rather than the sidecar down
  }
}

// The fields call_start and call_end share.
void CallRecorder::identify(log::Line& line) const {
  line.str("case_id", record_.case_id).str("direction", record_.direction).str("server", record_.server);
  line.str("method", record_.method);
  if (!record_.tool.empty()) line.str("tool", record_.tool);
  if (!record_.caller.empty()) line.str("caller", record_.caller);
}

void CallRecorder::start() {
  log::Line line(log::Level::info, "call_start");
  if (!line.enabled()) return;
  identify(line);
  identity_ = line.members_so_far();
  if (!logged_arguments_.is_null()) line.json("arguments", logged_arguments_);
  line.write();
}

void CallRecorder::end(std::string_view outcome, std::string_view error) {
  if (ended_) return;
  ended_ = true;
  elapsed_ = std::chrono::steady_clock::now() - started_;
  record_.outcome = std::string(outcome);
  record_.error = std::string(error);
}

void CallRecorder::record() {
  if (!ended_ || recorded_) return;
  recorded_ = true;
  double seconds = std::chrono::duration<double>(elapsed_).count();
  record_.duration_ms = seconds * 1000.0;

  std::string_view tool_label;  // "" without a tool, "other" for a tool the upstream did not list
  if (!record_.tool.empty()) tool_label = tool_listed_ ? std::string_view(record_.tool) : std::string_view("other");
  metrics_
      .counter(metrics_.calls_total, {{"direction", record_.direction},
                                      {"server", record_.server},
                                      {"method", record_.method},
                                      {"tool", tool_label},
                                      {"outcome", record_.outcome}})
      .Increment();
  metrics_
      .histogram(metrics_.call_duration_seconds,
                 {{"direction", record_.direction},
                  {"server", record_.server},
                  {"method", record_.method},
                  {"tool", tool_label}},
                 Metrics::duration_buckets())
      .Observe(seconds);

  log::Line line(log::Level::info, "call_end");
  if (line.enabled()) {
    if (identity_.empty())
      identify(line);
    else
      line.members(identity_);
    line.str("outcome", record_.outcome).millis("duration_ms", elapsed_);
    if (!record_.error.empty()) line.str("error", record_.error);
    line.write();
  }
  calls_.add(std::move(record_));
}

}  // namespace mcp_sidecar

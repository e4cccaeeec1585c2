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

void CallRecorder::start() {
  nlohmann::json f = {{"case_id", record_.case_id},
                      {"direction", record_.direction},
                      {"server", record_.server},
                      {"method", record_.method}};
  if (!record_.tool.empty()) f["tool"] = record_.tool;
  if (!record_.caller.empty()) f["caller"] = record_.caller;
  if (!logged_arguments_.is_null()) f["arguments"] = logged_arguments_;
  log::info("call_start", f);
}

void CallRecorder::finish(std::string_view outcome, std::string_view error) {
  if (finished_) return;
  finished_ = true;
  auto elapsed = std::chrono::steady_clock::now() - started_;
  double seconds = std::chrono::duration<double>(elapsed).count();
  record_.duration_ms = seconds * 1000.0;
  record_.outcome = std::string(outcome);
  record_.error = std::string(error);

  std::string tool_label = record_.tool.empty() ? "" : (tool_listed_ ? record_.tool : "other");
  metrics_.calls_total
      .Add({{"direction", record_.direction},
            {"server", record_.server},
            {"method", record_.method},
            {"tool", tool_label},
            {"outcome", record_.outcome}})
      .Increment();
  metrics_.call_duration_seconds
      .Add({{"direction", record_.direction},
            {"server", record_.server},
            {"method", record_.method},
            {"tool", tool_label}},
           Metrics::duration_buckets())
      .Observe(seconds);

  nlohmann::json f = {{"case_id", record_.case_id}, {"direction", record_.direction},
                      {"server", record_.server},   {"method", record_.method},
                      {"outcome", record_.outcome}, {"duration_ms", record_.duration_ms}};
  if (!record_.tool.empty()) f["tool"] = record_.tool;
  if (!record_.caller.empty()) f["caller"] = record_.caller;
  if (!record_.error.empty()) f["error"] = record_.error;
  log::info("call_end", f);
  calls_.add(record_);
}

}  // namespace mcp_sidecar

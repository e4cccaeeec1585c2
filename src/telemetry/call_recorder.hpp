// Accounts for one call in one place, whichever role and API carried it: a start log line, then
// on finish() an end log line, the calls/duration metrics and a /debug/calls record. The tool
// label is the tool's name only when the upstream listed it, else "other".
//
// A call whose answer is still to be written can be ended (end(): its outcome and duration
// fixed) and recorded later, when the recorder is destroyed: the client does not wait for the
// line and the metrics, which describe the call as it ended.
#pragma once

#include "telemetry/call_log.hpp"
#include "telemetry/log.hpp"
#include "telemetry/metrics.hpp"

#include <chrono>
#include <string>

namespace mcp_sidecar {

class CallRecorder {
 public:
  CallRecorder(Metrics& metrics, CallLog& calls, std::string direction, std::string server, std::string method,
               std::string tool, std::string case_id);
  CallRecorder(const CallRecorder&) = delete;
  CallRecorder& operator=(const CallRecorder&) = delete;
  ~CallRecorder();  // records an ended call not yet recorded

  void set_case_id(std::string case_id) {
    record_.case_id = std::move(case_id);
    identity_.clear();
  }
  void set_caller(std::string caller) {
    record_.caller = std::move(caller);
    identity_.clear();
  }
  // Argument values the operator allowed in logs (log_arguments), shown in call_start.
  void set_logged_arguments(nlohmann::json args) { logged_arguments_ = std::move(args); }
  // Whether the tool name may be used as a metric label.
  void set_tool_listed(bool listed) { tool_listed_ = listed; }
  // Logs call_start (call once the case id is known).
  void start();
  // Logs call_end and records metrics; `error` is the error code name when not ok.
  void finish(std::string_view outcome, std::string_view error = {}) {
    end(outcome, error);
    record();
  }
  // Fixes the outcome and the duration; call_end and the metrics follow when the recorder is
  // destroyed (or finish() is called). Only the first end() counts.
  void end(std::string_view outcome, std::string_view error = {});

 private:
  void identify(log::Line& line) const;
  void record();

  Metrics& metrics_;
  CallLog& calls_;
  CallRecord record_;
  bool tool_listed_ = false;
  nlohmann::json logged_arguments_;
  std::string identity_;  // identify()'s members as call_start wrote them, for call_end
  bool ended_ = false;
  bool recorded_ = false;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::duration elapsed_{};
};

}  // namespace mcp_sidecar

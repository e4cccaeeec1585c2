// The recent calls, for /debug/calls?case_id=...: a bounded ring of what happened to each call
// (server, tool, outcome, duration), never its arguments or results. Thread-safe.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace mcp_sidecar {

struct CallRecord {
  std::string case_id;
  std::string direction;  // outbound | inbound
  std::string server;
  std::string method;  // tools/call, tools/list, ...
  std::string tool;
  std::string outcome;  // ok, tool_error, rpc_error, timeout, unavailable, rejected, cancelled
  std::string error;    // error code name, when not ok
  std::string caller;   // verified caller identity (inbound), else empty
  std::int64_t started_unix_ms = 0;
  double duration_ms = 0;
};

nlohmann::json to_json(const CallRecord& r);

class CallLog {
 public:
  explicit CallLog(std::size_t capacity) : capacity_(capacity) {}

  void add(CallRecord record);
  // The calls of one case, oldest first, at most `limit`.
  std::vector<CallRecord> by_case(std::string_view case_id, std::size_t limit = 1000) const;
  std::size_t capacity() const { return capacity_; }

 private:
  mutable std::mutex mu_;
  std::size_t capacity_;
  std::vector<CallRecord> ring_;  // grows up to capacity_
  std::size_t next_ = 0;          // where the next record goes once the ring is full
};

}  // namespace mcp_sidecar

#include "telemetry/call_log.hpp"

namespace mcp_sidecar {

nlohmann::json to_json(const CallRecord& r) {
  nlohmann::json j = {{"case_id", r.case_id},
                      {"direction", r.direction},
                      {"server", r.server},
                      {"method", r.method},
                      {"tool", r.tool},
                      {"outcome", r.outcome},
                      {"started_unix_ms", r.started_unix_ms},
                      {"duration_ms", r.duration_ms}};
  if (!r.error.empty()) j["error"] = r.error;
  if (!r.caller.empty()) j["caller"] = r.caller;
  return j;
}

void CallLog::add(CallRecord record) {
  std::lock_guard lock(mu_);
  if (ring_.empty()) return;
  ring_[next_] = std::move(record);
  next_ = (next_ + 1) % ring_.size();
  if (next_ == 0) wrapped_ = true;
}

std::vector<CallRecord> CallLog::by_case(std::string_view case_id, std::size_t limit) const {
  std::lock_guard lock(mu_);
  std::vector<CallRecord> out;
  std::size_t count = wrapped_ ? ring_.size() : next_;
  std::size_t start = wrapped_ ? next_ : 0;
  for (std::size_t i = 0; i < count && out.size() < limit; ++i) {
    const auto& r = ring_[(start + i) % ring_.size()];
    if (r.case_id == case_id) out.push_back(r);
  }
  return out;
}

}  // namespace mcp_sidecar

#include "telemetry/call_log.hpp"

#include <algorithm>

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
  if (capacity_ == 0) return;
  // The ring grows as calls come (an idle sidecar holds none), then overwrites the oldest.
  if (ring_.size() < capacity_) {
    if (ring_.size() == ring_.capacity())
      ring_.reserve(std::min(capacity_, std::max<std::size_t>(16, 2 * ring_.size())));
    ring_.push_back(std::move(record));
  } else {
    ring_[next_] = std::move(record);
  }
  next_ = (next_ + 1) % capacity_;
}

std::vector<CallRecord> CallLog::by_case(std::string_view case_id, std::size_t limit) const {
  std::lock_guard lock(mu_);
  std::vector<CallRecord> out;
  // Oldest first: from next_ once the ring is full, else from the start.
  const std::size_t start = ring_.size() == capacity_ ? next_ : 0;
  for (std::size_t i = 0; i < ring_.size() && out.size() < limit; ++i) {
    const auto& r = ring_[(start + i) % ring_.size()];
    if (r.case_id == case_id) out.push_back(r);
  }
  return out;
}

}  // namespace mcp_sidecar

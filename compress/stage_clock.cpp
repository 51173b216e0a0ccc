#include "compress/stage_clock.h"

namespace zip {

StageClock::StageClock(const std::optional<RunState>& previous) {
  if (!previous || !previous->stages.contains("wall_s") || !previous->stages["wall_s"].is_object()) return;
  for (const auto& [k, v] : previous->stages["wall_s"].items())
    if (v.is_number()) earlier_[k] = v.get<double>();
  processes_ = int(earlier_.value("processes", 1.0)) + 1;
}

void StageClock::set(nlohmann::json& report, RunState& st, const std::string& stage, double seconds) const {
  const double s = earlier_.value(stage, 0.0) + seconds;
  report["wall_s"][stage] = s;
  report["wall_s"]["processes"] = processes_;
  if (!st.stages.contains("wall_s") || !st.stages["wall_s"].is_object()) st.stages["wall_s"] = earlier_;
  st.stages["wall_s"][stage] = s;
  st.stages["wall_s"]["processes"] = processes_;
}

}  // namespace zip

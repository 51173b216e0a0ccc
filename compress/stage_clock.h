// Wall time per stage of a `zip compress` run across its resumes. The report's cost accounting
// (report.json "wall_s") covers the whole run, not only the last process: each stage's seconds in
// this process are added to what the earlier processes of the same run recorded in the run state
// (stage "wall_s"). Work a killed process did after its last checkpoint is not counted there; it
// is redone, and counted, by the resume.
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "compress/run_state.h"

namespace zip {

class StageClock {
 public:
  explicit StageClock(const std::optional<RunState>& previous);

  // report["wall_s"][stage] = the earlier processes' seconds + `seconds`; mirrored into
  // st.stages["wall_s"] so that the next resume finds it.
  void set(nlohmann::json& report, RunState& st, const std::string& stage, double seconds) const;
  // How many processes the run has taken so far, this one included.
  int processes() const { return processes_; }

 private:
  nlohmann::json earlier_ = nlohmann::json::object();
  int processes_ = 1;
};

}  // namespace zip

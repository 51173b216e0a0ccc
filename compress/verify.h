// Checks a finished family's speed guarantee again, on this machine: every member file of a
// `zip compress -o OUT_DIR` folder timed side by side with the dense model it came from, in the
// family's environment (report.json's env: threads, batch, context, phase, weight type), as the
// guarantee timed it. For the machine the members will be deployed on, or after a run whose
// timings a loaded machine disturbed. Nothing is written.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compress/latency.h"
#include "compress/latency_source.h"

namespace zip {

struct VerifiedMember {
  std::string file, method;
  double target = 0;               // speedup target
  std::optional<double> recorded;  // the measured speedup report.json holds (as written)
  double measured = 0;             // now: dense time / member time
  double spread = 0;               // IQR / median of the per-repetition speedups
  bool in_band = false;            // measured / target within [0.97, 1.10]
};

struct VerifyOptions {
  std::string dense_path;  // "": report.json's model (relative paths as the run saw them)
  TimingOptions timing;
  std::shared_ptr<LatencySource> latency;  // null: the engine in the report's env (tests: synthetic)
  std::function<void(const std::string&)> log;
};

// Members with a speedup target, in report order (budgets by parameters have nothing to check).
// Throws zip::Error when the folder has no report, the dense model is missing or is not the
// model the family was pruned from (content hash), or a member file is missing.
std::vector<VerifiedMember> verify_family(const std::string& out_dir, const VerifyOptions& o);

}  // namespace zip

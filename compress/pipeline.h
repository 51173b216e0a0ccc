// `zip compress`: the pruning pipeline — calibrate → rank (the method's ranking) → time (latency
// table) → per target: search → stitch → re-measure until in band → evaluate — producing one
// model per speedup target and a report. The stages are public in compress/run.h; methods plug in
// through compress/ranking.h (ZipLM and its baselines: prune/ziplm/).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compress/guarantee.h"
#include "compress/latency_source.h"
#include "compress/options.h"

namespace zip {

// Runs the pipeline on the model file `model_path`; writes OUT_DIR/<method>-<target>x.zlm (a
// member that missed its target: <method>-<target>x-failed.zlm), report.json, report.md,
// report.svg (rewritten after every member) and run-state.json (compress/run_state.h); returns
// the report.
nlohmann::json compress_family(const std::string& model_path, const CompressOptions& opt);

// One line per target the report did not meet (infeasible, or measured outside the band after the
// last round); empty when every member meets its target. `zip compress` exits 3 on any.
std::vector<std::string> guarantee_misses(const nlohmann::json& report);
inline constexpr int kExitMissed = 3;

}  // namespace zip

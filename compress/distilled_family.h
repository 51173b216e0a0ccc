// The family with distillation (--distill-tokens) and gradual mode (--gradual): each member is
// searched, stitched and re-measured as in the one-shot family, then distilled from the dense
// model (compress/distill_member.h) and re-measured as written. In gradual mode the targets run in
// increasing order and member k is pruned from member k−1 after its distillation: its database is
// rebuilt on that member (keyed by its content hash), its search runs over levels at most the
// member's shapes, timed with the dense model's latency table and budgeted against the dense T_dense,
// so every speedup stays relative to the original model.
//
// Resume (compress/run_state.h): per member the run state records, in order,
//   stages["before_kd"]["k"]  the member as stitched and in band (report entry + file checksum),
//   OUT_DIR/.kd/<member>.ckpt  the distillation's checkpoints (every --distill-ckpt-every steps),
//   members[k]                 the member after distillation (report entry + file checksum);
// the next step's database is cached under the database folder by its parent's hash. A killed run
// keeps the finished prefix, continues the interrupted member's distillation from its last
// checkpoint, and writes the files an uninterrupted run writes.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "compress/options.h"
#include "compress/run.h"
#include "compress/run_state.h"

namespace zip {

struct FamilyStep {
  PruneMethod method;
  double target;
  bool intermediate = false;  // a --gradual-steps target between two asked ones
};

// The members in build order: one-shot, every method × target as given; gradual, the targets in
// increasing order with `gradual_steps` geometric intermediate targets between consecutive ones.
std::vector<FamilyStep> family_steps(const CompressOptions& o);

// Builds the members (report["members"], the run state) in order; `member_done(k)` is called after
// each finished member (writes the run state and the reports, runs the tests' hook).
void build_distilled_family(CompressRun& r, nlohmann::json& report, RunState& st, const std::optional<RunState>& previous,
                            const std::function<void(int)>& member_done);

}  // namespace zip

// Minitron's architecture search for one budget (docs/COMPRESS.md, "--method minitron"):
// the uniform shapes within ±5 % of the budget (prune/minitron/candidates.h) → at most
// --nas-probe of them, spread evenly over the list, pruned one-shot and scored by held-out KL →
// best first, each measured against the speedup target until --nas-candidates lie in
// [0.97, 1.10] × target (budgets by parameters measure nothing) → each distilled --nas-steps
// steps from the dense model and ranked by held-out KL (encoders: the encoder loss; the table's
// *_kl fields then hold it). A speedup round that finds no
// candidate in band aims again through how far reality was from the prediction.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "compress/minitron_distill.h"
#include "compress/minitron_latency.h"
#include "compress/run.h"
#include "prune/minitron/importance.h"
#include "prune/minitron/shape.h"

namespace zip {

// One row of the candidate table (report.json members[].candidates).
struct CandidateRow {
  minitron::UniformShape shape;
  int64_t params = 0;
  int round = 0;                                        // the speedup round that enumerated it
  std::optional<double> predicted_speedup;              // speedup budgets
  std::optional<double> measured_speedup, spread;       // measured candidates
  std::optional<double> oneshot_kl;                     // held-out divergence, pruned, no KD
  bool selected = false;                                // chosen for the short distillation
  std::optional<double> kd_kl;                          // after it
  nlohmann::json to_json() const;
  static CandidateRow from_json(const nlohmann::json& j);
};

// What a member's search is aimed at: a speedup target, or a fraction of the dense parameters.
struct MinitronBudget {
  std::optional<double> speedup, params_fraction;
  std::string label() const;  // "1.50x" / "p0.50"
};

struct MinitronSearch {
  CompressRun& run;
  const minitron::Importance& imp;
  const minitron::ShapeAxes& axes;
  const UniformLatency* latency;  // speedup budgets
  const distill::TokenData& corpus;
  KdRun kd;  // the short runs' settings (steps = --nas-steps)
  std::function<void(const std::vector<CandidateRow>&)> checkpoint;  // after each row changes (resume)
  // Out: the distilled model of the best row distilled in this call (a resumed search may hold none).
  std::optional<std::pair<size_t, Model>> best = std::nullopt;
};

// The held-out divergence the search ranks by: KL(dense ‖ m) for decoders; for encoders the
// run's encoder loss (compress/heldout_loss.h: pooled for a model that pools).
double heldout_divergence(CompressRun& r, const Model& m);
Model prune_candidate(const CompressRun& r, const minitron::Importance& imp, const minitron::UniformShape& s);
// `k` for shape `s`: for encoders, with the layer pairs of the dense layers the shape keeps.
KdRun kd_for_shape(const CompressRun& r, const minitron::Importance& imp, const minitron::UniformShape& s, KdRun k);

// Rows of the search for `b`: the probed candidates with their one-shot scores and, for those
// selected, measured speeds and KD scores. `done`: the rows a killed run recorded (they are
// recorded once the selection is made, then after each distillation): the selection is kept and
// the distillations not yet recorded are run.
std::vector<CandidateRow> search_architecture(MinitronSearch& s, const MinitronBudget& b, std::vector<CandidateRow> done);

// A resumed run: the table scales (predicted / measured speedup) the recorded rows' timings added
// to the run, in the order they were measured, as the search adds them (later budgets aim through them).
void add_measured_scales(CompressRun& r, const std::vector<CandidateRow>& rows);

// The selected row with the lowest KD divergence (one-shot when nas_steps is 0); -1 for none.
int best_candidate(const std::vector<CandidateRow>& rows);

}  // namespace zip

// Where the pipeline's times come from, and the latency table's cache. The engine source times
// through the environment's backend (engine's make_backend: cpu, or cuda — the CUDA backend
// implements the same interface and the timer syncs it); the synthetic one (tests) predicts from
// a made-up table.
#pragma once
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "compress/latency.h"
#include "compress/ranking.h"

namespace zip {

// One paired timing of the dense model and a member (the guarantee's speedup is their ratio).
struct PairTiming {
  double dense_s = 0, model_s = 0;  // seconds per unit
  double spread = 0;  // IQR / median of the per-repetition speedups (compress/timing_spread.h); 0: one figure
  int reps = 1;       // repetitions behind the figures
  int timings = 1;    // how many pair timings were taken to get one this steady
};

struct LatencySource {
  virtual ~LatencySource() = default;
  virtual LatencyTable table(const Model& dense, const std::set<AttnLevel>& attn, const std::set<int>& ffn,
                             const std::function<void(int, int)>& progress) = 0;
  virtual double measure(const Model& m) = 0;  // seconds per unit of work, end to end
  // The dense model and `m`, timed side by side.
  virtual PairTiming measure_pair(const Model& dense, const Model& m) {
    PairTiming p;
    p.dense_s = measure(dense), p.model_s = measure(m);
    return p;
  }
  // --resume: the table recorded by the interrupted run stands for a fresh one (a source that
  // predicts from its table, as the synthetic one, takes it over).
  virtual void use_table(const LatencyTable&) {}
};
std::unique_ptr<LatencySource> engine_latency(const Env& env, const TimingOptions& opt);
// Synthetic: measure() = the table's prediction × `skew` for pruned models (dense exact), so
// tests can exercise the re-measurement correction.
std::unique_ptr<LatencySource> synthetic_latency(const SyntheticCosts& costs, double skew = 1.0);
// Synthetic, with the faults a real machine has (tests of the guarantee's verdicts):
struct SyntheticTiming {
  double skew = 1.0;
  double max_speedup = 0;       // > 0: no member measures faster than this (a target above it is missed)
  std::vector<double> spreads;  // the spread the successive pair timings report (0 once used up)
};
std::unique_ptr<LatencySource> synthetic_latency(const SyntheticCosts& costs, const SyntheticTiming& timing);
// The synthetic source a test names in ZIP_COMPRESS_SYNTHETIC ("skew=1.04,max=1.6,spreads=0.3/0.2",
// every item optional; nullptr when unset), so that CLI tests run the pipeline without timing.
std::shared_ptr<LatencySource> synthetic_latency_from_env();

// Every attention level and FFN width the ranking's levels reach in `dense`.
void add_ranking_levels(const Model& dense, const Ranking& r, std::set<AttnLevel>& attn, std::set<int>& ffn);

// The modules cannot take longer than the whole model, so T_fixed < 0 means the module times were
// taken in a slower spell than T_dense — unless it is within the fit's own error: the fitted dense
// levels (LATENCY.md) lie off their medians by the scatter of the line, which on an encoder whose
// fixed part is ~1 % of T_dense (all-MiniLM-L6-v2: T_fixed −1.1 %) can tip it below zero.
bool fixed_part_suspect(const LatencyTable& t);
// A cached table is reused while the dense model's time now is within this factor of its own.
inline constexpr double kTableDriftLow = 0.8, kTableDriftHigh = 1.25;

// The cache file of the table for a model (content hash) in an environment and timing method.
std::string latency_cache_path(const std::string& db_root, const std::string& model_hash, const Env& env,
                               const TimingOptions& timing);

struct TimedTable {
  LatencyTable table;
  double dense_measured = 0;  // the dense model timed while checking the cache (0: not timed)
};
// The table holding `attn` and `ffn`: the cached one at `cache_path` while it covers the levels in
// `env`, has a sound fixed part and the dense model's time has not drifted out of
// [kTableDriftLow, kTableDriftHigh]; else timed by `source` (once more when its fixed part is
// suspect; never cached then). cache_path "" = no cache.
TimedTable time_levels(const Model& dense, const std::set<AttnLevel>& attn, const std::set<int>& ffn,
                       LatencySource& source, const Env& env, const std::string& cache_path,
                       const std::function<void(const std::string&)>& log,
                       const std::function<void(int, int)>& progress);

}  // namespace zip

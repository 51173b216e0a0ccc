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

#include "compress/latency.h"
#include "compress/ranking.h"

namespace zip {

struct LatencySource {
  virtual ~LatencySource() = default;
  virtual LatencyTable table(const Model& dense, const std::set<AttnLevel>& attn, const std::set<int>& ffn,
                             const std::function<void(int, int)>& progress) = 0;
  virtual double measure(const Model& m) = 0;  // seconds per unit of work, end to end
  // {dense, m} seconds per unit, timed side by side (the guarantee's speedup is their ratio).
  virtual std::pair<double, double> measure_pair(const Model& dense, const Model& m) {
    double d = measure(dense);
    return {d, measure(m)};
  }
};
std::unique_ptr<LatencySource> engine_latency(const Env& env, const TimingOptions& opt);
// Synthetic: measure() = the table's prediction × `skew` for pruned models (dense exact), so
// tests can exercise the re-measurement correction.
std::unique_ptr<LatencySource> synthetic_latency(const SyntheticCosts& costs, double skew = 1.0);

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

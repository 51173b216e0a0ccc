// Predicted times of uniform Minitron shapes in the deployment environment (docs/COMPRESS.md).
// The latency table of compress/latency.h, measured in place for every uniform attention level
// (KV groups × query heads per group) and FFN width of the grid, predicts a shape at the dense
// hidden size: t_fixed + n_layers·(attn + ffn). The hidden size scales it by φ(d) = a + b·d/D,
// fitted by least squares to the dense-shaped model's time at a few hidden sizes (up to three
// grid points below D, each timed in alternation with the dense model; φ(D) = 1): timing in
// place and fitting, as the table does for widths, rather than timing thousands of candidates. The guarantee re-measures every member, so what the fit
// misses (attention over the KV cache does not shrink with d) is corrected there.
#pragma once
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "compress/run.h"
#include "prune/minitron/candidates.h"

namespace zip {

struct UniformLatency {
  LatencyTable table;
  int dense_dim = 0;
  double a = 1, b = 0;                             // φ(d) = a + b·d/dense_dim
  // (hidden size, seconds): T_dense times the ratio timed against the dense model (the dense size: T_dense)
  std::vector<std::pair<int, double>> dim_times;

  double factor(int dim) const { return a + b * double(dim) / double(dense_dim); }
  double predict(const ModelConfig& dense, const minitron::UniformShape& s) const;
  nlohmann::json to_json() const;
  static UniformLatency from_json(const nlohmann::json& j);
};

// The least-squares line through (x, y) (a flat line at the mean for fewer than two distinct x).
std::pair<double, double> fit_line(const std::vector<double>& x, const std::vector<double>& y);

// Times the table's levels for `axes` (cached under the run's database folder as ZipLM's table)
// and the hidden-size fit; sets r.latency, r.table and r.dense_measured.
UniformLatency time_uniform_shapes(CompressRun& r, const minitron::ShapeAxes& axes, const std::vector<double>& channel_importance);

}  // namespace zip

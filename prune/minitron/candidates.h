// The architecture search's candidates (docs/METHODS.md §3.3): every uniform shape — depth, KV
// groups, query heads per group, FFN width on a grid, hidden size on a grid — whose cost (the
// parameter count, or the predicted time) lies within ±tolerance of the budget, and nothing else.
// Axis lists in, shapes out; the cost is the caller's.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/config.h"
#include "prune/minitron/shape.h"

namespace zip::minitron {

// The values one axis may take: every multiple of `step` up to `dense`, and `dense` itself,
// ascending (step >= dense: {dense}).
std::vector<int> axis_grid(int dense, int step);

// The values of every axis a candidate may take.
struct ShapeAxes {
  std::vector<int> layers, kv_heads, q_per_kv, ffn, dim;  // each ascending
};
// Depth 1..L, KV groups 1..n_kv, query heads per group 1..q, FFN and hidden size on their grids.
ShapeAxes shape_axes(const UniformShape& dense, int ffn_step, int dim_step);

// The config of `dense` (a uniform model) pruned to shape `s` (what prune_uniform produces).
ModelConfig uniform_config(const ModelConfig& dense, const UniformShape& s);
// Its parameter count (ModelConfig::n_params of uniform_config).
int64_t uniform_params(const ModelConfig& dense, const UniformShape& s);

struct Candidate {
  UniformShape shape;
  double cost = 0;
};
// Every shape over `axes` with |cost(shape) / budget − 1| <= tolerance, in axis order (layers
// outermost, hidden size innermost). `cost` must not decrease when any one axis grows (parameter
// counts and predicted times do not): the enumerator stops an axis once the cost passes the band.
std::vector<Candidate> enumerate_candidates(const ShapeAxes& axes, const std::function<double(const UniformShape&)>& cost,
                                            double budget, double tolerance = 0.05);

}  // namespace zip::minitron

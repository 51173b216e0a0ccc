#include "prune/minitron/candidates.h"

#include <cmath>

#include "engine/error.h"

namespace zip::minitron {

std::vector<int> axis_grid(int dense, int step) {
  ZIP_CHECK(dense >= 1 && step >= 1, "minitron: axis grid needs positive sizes (dense {}, step {})", dense, step);
  std::vector<int> v;
  for (int x = step; x < dense; x += step) v.push_back(x);
  v.push_back(dense);
  return v;
}

ShapeAxes shape_axes(const UniformShape& d, int ffn_step, int dim_step) {
  ShapeAxes a;
  for (int n = 1; n <= d.n_layers; n++) a.layers.push_back(n);
  for (int k = 1; k <= d.n_kv_heads; k++) a.kv_heads.push_back(k);
  for (int q = 1; q <= d.q_per_kv; q++) a.q_per_kv.push_back(q);
  a.ffn = axis_grid(d.ffn_dim, ffn_step);
  a.dim = axis_grid(d.dim, dim_step);
  return a;
}

ModelConfig uniform_config(const ModelConfig& dense, const UniformShape& s) {
  ModelConfig c = dense;
  c.dim = s.dim;
  c.layers.assign(size_t(s.n_layers), uniform_layer(s.n_kv_heads * s.q_per_kv, s.n_kv_heads, s.ffn_dim));
  return c;
}

int64_t uniform_params(const ModelConfig& dense, const UniformShape& s) { return uniform_config(dense, s).n_params(); }

std::vector<Candidate> enumerate_candidates(const ShapeAxes& axes, const std::function<double(const UniformShape&)>& cost,
                                            double budget, double tolerance) {
  ZIP_CHECK(budget > 0 && tolerance >= 0, "minitron: candidate budget {} / tolerance {} out of range", budget, tolerance);
  const double lo = budget * (1 - tolerance), hi = budget * (1 + tolerance);
  std::vector<Candidate> out;
  for (int n : axes.layers)
    for (int kv : axes.kv_heads)
      for (int q : axes.q_per_kv)
        for (int f : axes.ffn)
          for (int d : axes.dim) {
            const UniformShape s{n, kv, q, f, d};
            const double c = cost(s);
            if (c > hi) break;  // the cost only grows with d
            if (c >= lo) out.push_back({s, c});
          }
  return out;
}

}  // namespace zip::minitron

// A forward observer that keeps the residual stream entering every layer of the last pass
// (x[l], l = 0..n_layers, the last being the stream after the final layer).
#pragma once
#include <vector>

#include "engine/forward.h"

namespace ztest {

struct ResidualRecorder : zip::ForwardObserver {
  std::vector<std::vector<float>> x;
  void on_residual(int l, const float* p, int rows, int dim) override {
    if (size_t(l) >= x.size()) x.resize(size_t(l) + 1);
    x[size_t(l)].assign(p, p + size_t(rows) * size_t(dim));
  }
};

}  // namespace ztest

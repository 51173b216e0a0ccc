// Stacking tensors along their first dimension (GPT-2's fused q/k/v for the exporters).
#pragma once
#include <cstring>
#include <vector>

#include "engine/tensor.h"

namespace zip {

// Rows of several tensors of one dtype and row width (or 1-D tensors) stacked, owning its data.
inline Tensor concat_rows(const std::vector<Tensor>& parts) {
  std::vector<int64_t> shape = parts.at(0).shape;
  shape[0] = 0;
  for (const Tensor& p : parts) shape[0] += p.dim(0);
  Tensor out = Tensor::zeros(parts[0].dtype, shape);
  size_t off = 0;
  for (const Tensor& p : parts) {
    std::memcpy(static_cast<uint8_t*>(out.data) + off, p.data, p.nbytes());
    off += p.nbytes();
  }
  return out;
}

}  // namespace zip

// Quantising a whole model to a mix (quant_mix.h), threaded over rows and deterministic: every row
// is quantised on its own, so the bytes do not depend on the thread count.
#pragma once
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/quant/quant_mix.h"

namespace zip::quant {

// Converts every weight of `m` to its type under `mix` (block weights are dequantised first when
// their type changes). Returns how many tensors fell back to another type (quant_mix.h).
int quantize_model(Model& m, QuantMix mix, int threads);

// Weights by type, for zip inspect / bench: count, parameters, bytes; most bytes first.
struct WeightTypeStats {
  DType type;
  int tensors = 0;
  int64_t params = 0;
  uint64_t bytes = 0;
};
struct TensorSize {
  DType type;
  int64_t numel;
  uint64_t bytes;
};
std::vector<WeightTypeStats> weight_type_stats(const std::vector<TensorSize>& tensors);
std::vector<WeightTypeStats> weight_type_stats(const Model& m);  // its weights (not the tokenizer)
// Bits per weight over all of them: 8 · bytes / params.
double bits_per_weight(const std::vector<WeightTypeStats>& stats);
// "q4_k+q6_k+q8_0": the types of the weight matrices (2-D tensors: norms and biases, always f32,
// left out), most bytes first; "f32" for an f32 model, "bf16" for a bf16 one.
std::string weight_type_summary(const Model& m);

// Whether any weight of `m` has a block type.
bool has_block_weights(const Model& m);

// Throws "WHAT needs float weights: ..." (one line, naming how to get them) if `m` has block weights.
void require_float_weights(const Model& m, const std::string& what);

}  // namespace zip::quant

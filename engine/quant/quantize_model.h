// Quantising a whole model to a mix (quant_mix.h), threaded over rows and deterministic: every row
// is quantised on its own, so the bytes do not depend on the thread count.
#pragma once
#include <string>

#include "engine/model.h"
#include "engine/quant/quant_mix.h"

namespace zip::quant {

// Converts every weight of `m` to its type under `mix` (block weights are dequantised first when
// their type changes). Returns how many tensors fell back to another type (quant_mix.h).
int quantize_model(Model& m, QuantMix mix, int threads);

// Whether any weight of `m` has a block type.
bool has_block_weights(const Model& m);

// Throws "WHAT needs float weights: ..." (one line, naming how to get them) if `m` has block weights.
void require_float_weights(const Model& m, const std::string& what);

}  // namespace zip::quant

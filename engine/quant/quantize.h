// Reference quantisers of the block types (layouts in engine/quant/blocks.h): Q8_0, Q4_0 and Q5_0
// bit-identical to gguf-py's numpy quantisers (and ggml's quantize_row_*_ref); Q4_K and Q6_K as
// ggml's reference algorithm (scale search per sub-block).
#pragma once
#include <cstdint>

#include "engine/dtype.h"

namespace zip::quant {

// Quantises n floats (a whole number of blocks) into block type t at dst.
void quantize(DType t, const float* src, void* dst, int64_t n);

}  // namespace zip::quant

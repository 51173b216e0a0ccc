// One super-block of the K-quant reference quantisers (ggml's quantize_row_q4_K_ref /
// quantize_row_q6_K_ref algorithm); quantize() in quantize.h calls these per block.
#pragma once
#include "engine/quant/blocks.h"

namespace zip::quant {

void quantize_block_q4_k(const float* x, BlockQ4_K* y);  // 256 floats
void quantize_block_q6_k(const float* x, BlockQ6_K* y);  // 256 floats

}  // namespace zip::quant

// Reference dequantisers of the block types (layouts in engine/quant/blocks.h), written from
// ggml's published layouts. Each result is bit-identical to gguf-py's numpy dequantisers: the f32
// operations are the same and happen in the same order (tests/data/gguf,
// tools/make_gguf_testdata.py). The reference backend and every kernel test build on these.
#pragma once
#include <cstdint>

#include "engine/dtype.h"

namespace zip::quant {

// Dequantises n elements (a whole number of blocks) of block type t from src into dst.
void dequantize(DType t, const void* src, float* dst, int64_t n);

// One block of the GGUF types that are imported but not kept (dequantised on import).
void dequantize_block_q4_1(const uint8_t* block, float* y);  // 32 elements, 20 B
void dequantize_block_q5_k(const uint8_t* block, float* y);  // 256 elements, 176 B

}  // namespace zip::quant

// Dequantisers for ggml tensor types, written from ggml's published block layouts. Each result is
// bit-identical to the reference (gguf-py's numpy dequantisers): the f32 operations are the same
// and happen in the same order (see tests/data/gguf, tools/make_gguf_testdata.py).
//
// Block layouts (little-endian; f16 = IEEE half):
//   F32, F16, BF16   one element per "block"
//   Q8_0   32 elems, 34 B:  f16 d, i8 q[32]                 x = q·d
//   Q4_0   32 elems, 18 B:  f16 d, u8 qs[16]                x[j] = d·(lo(qs[j]) − 8), x[j+16] = d·(hi(qs[j]) − 8)
//   Q5_0   32 elems, 22 B:  f16 d, u8 qh[4], u8 qs[16]      as Q4_0 with a 5th bit per element from qh; x = d·(q − 16)
//   Q4_1   32 elems, 20 B:  f16 d, f16 m, u8 qs[16]         x[j] = d·lo(qs[j]) + m, x[j+16] = d·hi(qs[j]) + m
//   Q4_K  256 elems, 144 B: f16 d, f16 dmin, u8 scales[12], u8 qs[128]
//          8 sub-blocks of 32, each with a 6-bit scale sc and min mn packed in `scales`;
//          x = (d·sc)·q − (dmin·mn), q the 4-bit value (64-element chunks: low nibbles, then high)
//   Q5_K  256 elems, 176 B: f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]
//          as Q4_K with a 5th bit per element from qh (bit 2c of qh[l] for chunk c's low half, 2c+1
//          for its high half)
//   Q6_K  256 elems, 210 B: u8 ql[128], u8 qh[64], i8 scales[16], f16 d
//          16 sub-blocks of 16 with an 8-bit signed scale; x = (d·sc)·(q − 32), q = 4 low bits from
//          ql and 2 high bits from qh
#pragma once
#include <cstdint>

namespace zip::gguf {

// Whether dequantize() handles ggml type `type`.
bool can_dequantize(uint32_t type);
// Dequantises `n` elements (a whole number of blocks) of type `type` from `src` (n / block_elems ×
// block_bytes bytes) into dst. The type must be one can_dequantize() accepts.
void dequantize(uint32_t type, const uint8_t* src, float* dst, uint64_t n);

}  // namespace zip::gguf

// Block-quantized weight layouts, bit-compatible with GGUF's (ggml's) so that GGUF tensors are
// kept as they are on import and written back unchanged on export. A tensor of a block type
// stores each row (the last dimension, a whole number of blocks) as consecutive blocks; rows are
// consecutive. Scales are IEEE half (f16) bit patterns, little-endian.
//
//   Q8_0   32 elems, 34 B:  d, q[32]                    x = d·q
//   Q4_0   32 elems, 18 B:  d, qs[16]                   x[j] = d·(lo(qs[j]) − 8), x[j+16] = d·(hi(qs[j]) − 8)
//   Q5_0   32 elems, 22 B:  d, qh[4], qs[16]            x[j] = d·(q[j] − 16), q[j] = lo(qs[j]) | bit j of qh
//          (qh read as a little-endian u32) << 4; q[j+16] = hi(qs[j]) | bit j+16 of qh << 4
//   Q4_K  256 elems, 144 B: d, dmin, scales[12], qs[128]
//          8 sub-blocks of 32 with a 6-bit scale sc and min mn packed in `scales`
//          (quant/dequantize.cpp: scale_min_k4); x = (d·sc)·q − (dmin·mn); q the 4-bit value,
//          64-element chunks c = 0..3: sub-block 2c in the low nibbles of qs[32c..32c+32), 2c+1 in
//          the high nibbles
//   Q6_K  256 elems, 210 B: ql[128], qh[64], scales[16] (i8), d
//          16 sub-blocks of 16 with an 8-bit signed scale; x = (d·sc)·(q − 32), q = 4 low bits
//          from ql and 2 high bits from qh (quant/dequantize.cpp: dequant_q6_k gives the order)
#pragma once
#include <cstdint>

namespace zip::quant {

constexpr int kQK8_0 = 32;
constexpr int kQK4_0 = 32;
constexpr int kQK5_0 = 32;
constexpr int kQK_K = 256;  // K-quant super-block

struct BlockQ8_0 {
  uint16_t d;  // f16
  int8_t qs[kQK8_0];
};

struct BlockQ4_0 {
  uint16_t d;  // f16
  uint8_t qs[kQK4_0 / 2];
};

struct BlockQ5_0 {
  uint16_t d;  // f16
  uint8_t qh[4];  // the 5th bit of element j is bit j % 8 of qh[j / 8]
  uint8_t qs[kQK5_0 / 2];
};

struct BlockQ4_K {
  uint16_t d;     // f16: super-block scale of the sub-block scales
  uint16_t dmin;  // f16: super-block scale of the sub-block mins
  uint8_t scales[12];
  uint8_t qs[kQK_K / 2];
};

struct BlockQ6_K {
  uint8_t ql[kQK_K / 2];  // low 4 bits
  uint8_t qh[kQK_K / 4];  // high 2 bits
  int8_t scales[kQK_K / 16];
  uint16_t d;  // f16
};

static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ6_K) == 210);

}  // namespace zip::quant

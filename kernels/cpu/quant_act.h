// Activations quantised to 8-bit blocks for the integer dot products (quant_kernels.h): each row of
// x is cut into blocks, d = max|x|/127, q = round(x/d) ∈ [−127, 127] (never −128, so sign tricks
// and u8×s8 products cannot overflow), with block sums of q for the weight offsets (Q4_0's −8,
// Q6_K's −32, Q4_K's mins). One quantisation per matmul call, shared by all threads.
// Two-term activations (quant_kernels.h, ActTerms) quantise the remainder x − d·q once more into a
// second row of the same layout: x ≈ d₁·q₁ + d₂·q₂, d₂ ≤ d₁/254, about 15 bits per value.
#pragma once
#include <cstddef>
#include <cstdint>

namespace zip::cpu {

// For Q8_0 / Q4_0 weights, a row of x as nb blocks of 32, stored as arrays so that the kernels
// load the scales and sums of 4 consecutive blocks at once: d[nb4], sum[nb4] (Σ q), q[nb4·32],
// nb4 = nb rounded up to 4, the padding zero.
struct ActRow32 {
  const float* d;
  const int32_t* sum;
  const int8_t* q;
};
inline int act32_padded_blocks(int nb) { return (nb + 3) / 4 * 4; }
inline size_t act32_row_bytes(int nb) { return size_t(act32_padded_blocks(nb)) * (4 + 4 + 32); }
inline ActRow32 act32_row(const uint8_t* row, int nb) {
  const int nb4 = act32_padded_blocks(nb);
  return {reinterpret_cast<const float*>(row), reinterpret_cast<const int32_t*>(row + size_t(nb4) * 4),
          reinterpret_cast<const int8_t*>(row + size_t(nb4) * 8)};
}

// For Q4_K / Q6_K weights: 256 elements, sums per 16.
struct ActBlock256 {
  float d;
  int16_t bsums[16];
  int8_t q[256];
};

// Quantises n floats (n a multiple of 32) into one ActRow32 of act32_row_bytes(n / 32) at row.
void quantize_act32(const float* x, int64_t n, uint8_t* row);
// Quantises n floats (n a multiple of 256) into n/256 blocks.
void quantize_act256(const float* x, int64_t n, ActBlock256* out);

// The second term: quantises x − (what `first`, x's own quantisation above, represents).
void quantize_act32_remainder(const float* x, int64_t n, const uint8_t* first, uint8_t* row);
void quantize_act256_remainder(const float* x, int64_t n, const ActBlock256* first, ActBlock256* out);

}  // namespace zip::cpu

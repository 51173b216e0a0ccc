// Activations quantised to 8-bit blocks for the integer dot products (quant_kernels.h): each row of
// x is cut into blocks, d = max|x|/127, q = round(x/d) ∈ [−127, 127] (never −128, so sign tricks
// and u8×s8 products cannot overflow), with block sums of q for the weight offsets (Q4_0's −8,
// Q6_K's −32, Q4_K's mins). One quantisation per matmul call, shared by all threads.
#pragma once
#include <cstdint>

namespace zip::cpu {

// For Q8_0 / Q4_0 weights: 32 elements.
struct ActBlock32 {
  float d;
  int32_t sum;  // Σ q
  int8_t q[32];
};

// For Q4_K / Q6_K weights: 256 elements, sums per 16.
struct ActBlock256 {
  float d;
  int16_t bsums[16];
  int8_t q[256];
};

// Quantises n floats (n a multiple of 32, resp. 256) into n/32 (n/256) blocks.
void quantize_act32(const float* x, int64_t n, ActBlock32* out);
void quantize_act256(const float* x, int64_t n, ActBlock256* out);

}  // namespace zip::cpu

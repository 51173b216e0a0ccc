// Reference quantisers. The f32 operations follow gguf-py's numpy code step by step (same
// roundings, no fused multiply-adds) so Q8_0, Q4_0 and Q5_0 results are bit-identical to it.
#include "engine/quant/quantize.h"

// The reference rounds after every operation: no fused multiply-adds in this file.
#pragma GCC optimize("fp-contract=off")

#include <cmath>
#include <cstring>

#include "engine/error.h"
#include "engine/quant/blocks.h"
#include "engine/quant/quantize_k.h"

namespace zip::quant {

namespace {

// numpy's np_roundf in gguf-py: round half away from zero.
float round_half_away(float x) {
  const float a = std::fabs(x);
  const float fl = std::floor(a);
  const float b = fl + std::floor(2.0f * (a - fl));
  return std::copysign(b, x);
}

void quantize_q8_0(const float* x, BlockQ8_0* y) {
  float amax = 0.0f;
  for (int j = 0; j < kQK8_0; j++) amax = std::fmax(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  y->d = f32_to_f16(d);
  for (int j = 0; j < kQK8_0; j++) {
    const volatile float p = x[j] * id;  // rounded before the rounding to an integer
    y->qs[j] = int8_t(round_half_away(p));
  }
}

void quantize_q4_0(const float* x, BlockQ4_0* y) {
  float amax = 0.0f, max = 0.0f;  // the element of largest magnitude, with its sign (first one wins)
  for (int j = 0; j < kQK4_0; j++)
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  const float d = max / -8.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  y->d = f32_to_f16(d);
  uint8_t q[kQK4_0];
  for (int j = 0; j < kQK4_0; j++) {
    const volatile float p = x[j] * id;
    const float t = std::trunc(p + 8.5f);
    q[j] = uint8_t(t > 15.0f ? 15 : t < 0.0f ? 0 : int(t));
  }
  for (int j = 0; j < kQK4_0 / 2; j++) y->qs[j] = uint8_t(q[j] | (q[j + kQK4_0 / 2] << 4));
}

// As Q4_0 with 32 levels: d = max / −16, q = min(31, trunc(x/d + 16.5)).
void quantize_q5_0(const float* x, BlockQ5_0* y) {
  float amax = 0.0f, max = 0.0f;
  for (int j = 0; j < kQK5_0; j++)
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  const float d = max / -16.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  y->d = f32_to_f16(d);
  uint8_t q[kQK5_0];
  uint32_t qh = 0;
  for (int j = 0; j < kQK5_0; j++) {
    const volatile float p = x[j] * id;
    const float t = std::trunc(p + 16.5f);
    q[j] = uint8_t(t > 31.0f ? 31 : t < 0.0f ? 0 : int(t));
    qh |= uint32_t(q[j] >> 4) << j;
  }
  for (int j = 0; j < 4; j++) y->qh[j] = uint8_t(qh >> (8 * j));
  for (int j = 0; j < kQK5_0 / 2; j++) y->qs[j] = uint8_t((q[j] & 0x0f) | (q[j + kQK5_0 / 2] << 4));
}

}  // namespace

void quantize(DType t, const float* src, void* dst, int64_t n) {
  ZIP_CHECK(is_quantized(t), "quantize: {} is not a block type", dtype_name(t));
  const int be = dtype_block_elems(t);
  ZIP_CHECK(n % be == 0, "quantize: {} elements is not a whole number of {} blocks", n, dtype_name(t));
  const int64_t nb = n / be;
  switch (t) {
    case DType::Q8_0:
      for (int64_t i = 0; i < nb; i++) quantize_q8_0(src + i * be, static_cast<BlockQ8_0*>(dst) + i);
      return;
    case DType::Q4_0:
      for (int64_t i = 0; i < nb; i++) quantize_q4_0(src + i * be, static_cast<BlockQ4_0*>(dst) + i);
      return;
    case DType::Q5_0:
      for (int64_t i = 0; i < nb; i++) quantize_q5_0(src + i * be, static_cast<BlockQ5_0*>(dst) + i);
      return;
    case DType::Q4_K:
      for (int64_t i = 0; i < nb; i++) quantize_block_q4_k(src + i * be, static_cast<BlockQ4_K*>(dst) + i);
      return;
    case DType::Q6_K:
      for (int64_t i = 0; i < nb; i++) quantize_block_q6_k(src + i * be, static_cast<BlockQ6_K*>(dst) + i);
      return;
    default: fail("quantize: no quantiser for {}", dtype_name(t));
  }
}

}  // namespace zip::quant

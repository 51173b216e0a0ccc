// Exact scalar conversions between f32 and the 16-bit float formats (IEEE half, bfloat16).
// Below engine and kernels: the tensor types and the SIMD loads are both written against them.
#pragma once
#include <cstdint>
#include <cstring>

namespace zip {

inline uint32_t f32_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }
inline float bits_f32(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

inline float bf16_to_f32(uint16_t h) { return bits_f32(uint32_t(h) << 16); }
// Round to nearest even; NaN stays NaN (quiet).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

// IEEE half <-> single, exact (subnormals, inf, NaN), round to nearest even.
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

}  // namespace zip

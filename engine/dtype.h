// Element types and the exact scalar conversions between them.
#pragma once
#include <cstdint>
#include <cstring>
#include <string_view>

namespace zip {

enum class DType : uint8_t { F32 = 0, F16 = 1, BF16 = 2, I32 = 3, U8 = 4 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
// Parses "f32" / "f16" / "bf16" / "i32" / "u8"; returns false if unknown.
bool parse_dtype(std::string_view s, DType* out);
inline bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

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

// Converts n elements of `src` (type `from`) to float.
void to_f32(DType from, const void* src, float* dst, size_t n);
// Converts n floats to `to` (F32, F16 or BF16).
void from_f32(DType to, const float* src, void* dst, size_t n);

}  // namespace zip

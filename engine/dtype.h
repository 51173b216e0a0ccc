// Element types of tensors and conversions of arrays between them (scalars: base/float16.h).
#pragma once
#include <cstdint>
#include <cstring>
#include <string_view>

#include "base/float16.h"

namespace zip {

enum class DType : uint8_t { F32 = 0, F16 = 1, BF16 = 2, I32 = 3, U8 = 4 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);
// Parses "f32" / "f16" / "bf16" / "i32" / "u8"; returns false if unknown.
bool parse_dtype(std::string_view s, DType* out);
inline bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }

// Converts n elements of `src` (type `from`) to float.
void to_f32(DType from, const void* src, float* dst, size_t n);
// Converts n floats to `to` (F32, F16 or BF16).
void from_f32(DType to, const float* src, void* dst, size_t n);

}  // namespace zip

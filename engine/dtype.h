// Element types of tensors and conversions of arrays between them (scalars: base/float16.h).
#pragma once
#include <cstdint>
#include <cstring>
#include <string_view>

#include "base/float16.h"

namespace zip {

// Q8_0 .. Q5_0 are block types (engine/quant/blocks.h): a row of n elements is n / block_elems
// blocks of block_bytes each; n must be a whole number of blocks.
enum class DType : uint8_t { F32 = 0, F16 = 1, BF16 = 2, I32 = 3, U8 = 4, Q8_0 = 5, Q4_0 = 6, Q4_K = 7, Q6_K = 8, Q5_0 = 9 };

// Bytes per element of a scalar type; a block type throws (use dtype_row_bytes).
size_t dtype_size(DType t);
const char* dtype_name(DType t);
// Parses "f32" / "f16" / "bf16" / "i32" / "u8" / "q8_0" / "q4_0" / "q4_k" / "q6_k" / "q5_0"; false if unknown.
bool parse_dtype(std::string_view s, DType* out);
inline bool is_float(DType t) { return t == DType::F32 || t == DType::F16 || t == DType::BF16; }
inline bool is_quantized(DType t) {
  return t == DType::Q8_0 || t == DType::Q4_0 || t == DType::Q4_K || t == DType::Q6_K ||
         t == DType::Q5_0;
}
// Elements per block (1 for scalar types) and bytes per block (dtype_size for scalar types).
int dtype_block_elems(DType t);
size_t dtype_block_bytes(DType t);
// Bytes of n elements (n a whole number of blocks; throws otherwise).
size_t dtype_row_bytes(DType t, int64_t n);

// Converts n elements of `src` (type `from`; block types are dequantised) to float.
void to_f32(DType from, const void* src, float* dst, size_t n);
// Converts n floats to `to` (F32, F16, BF16, or a block type through its reference quantiser).
void from_f32(DType to, const float* src, void* dst, size_t n);

}  // namespace zip

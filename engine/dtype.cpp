#include "engine/dtype.h"

#include "engine/error.h"
#include "engine/quant/dequantize.h"
#include "engine/quant/quantize.h"

namespace zip {

namespace {

struct DTypeInfo {
  DType type;
  const char* name;
  int block_elems;
  size_t block_bytes;
};

constexpr DTypeInfo kInfo[] = {
    {DType::F32, "f32", 1, 4},    {DType::F16, "f16", 1, 2},      {DType::BF16, "bf16", 1, 2},
    {DType::I32, "i32", 1, 4},    {DType::U8, "u8", 1, 1},        {DType::Q8_0, "q8_0", 32, 34},
    {DType::Q4_0, "q4_0", 32, 18}, {DType::Q4_K, "q4_k", 256, 144}, {DType::Q6_K, "q6_k", 256, 210},
    {DType::Q5_0, "q5_0", 32, 22},
};

const DTypeInfo& info(DType t) {
  for (const auto& i : kInfo)
    if (i.type == t) return i;
  fail("invalid dtype {}", int(t));
}

}  // namespace

size_t dtype_size(DType t) {
  ZIP_CHECK(!is_quantized(t), "dtype_size: {} is a block type (use dtype_row_bytes)", dtype_name(t));
  return info(t).block_bytes;
}

int dtype_block_elems(DType t) { return info(t).block_elems; }
size_t dtype_block_bytes(DType t) { return info(t).block_bytes; }

size_t dtype_row_bytes(DType t, int64_t n) {
  const DTypeInfo& i = info(t);
  ZIP_CHECK(n >= 0 && n % i.block_elems == 0, "{} elements is not a whole number of {} blocks of {}", n, i.name,
            i.block_elems);
  return size_t(n / i.block_elems) * i.block_bytes;
}

const char* dtype_name(DType t) {
  for (const auto& i : kInfo)
    if (i.type == t) return i.name;
  return "?";
}

bool parse_dtype(std::string_view s, DType* out) {
  for (const auto& i : kInfo)
    if (s == i.name) {
      *out = i.type;
      return true;
    }
  return false;
}

void to_f32(DType from, const void* src, float* dst, size_t n) {
  switch (from) {
    case DType::F32: std::memcpy(dst, src, n * 4); return;
    case DType::F16: {
      auto s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::BF16: {
      auto s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    default:
      if (is_quantized(from)) return quant::dequantize(from, src, dst, int64_t(n));
      fail("cannot convert {} to f32", dtype_name(from));
  }
}

void from_f32(DType to, const float* src, void* dst, size_t n) {
  switch (to) {
    case DType::F32: std::memcpy(dst, src, n * 4); return;
    case DType::F16: {
      auto d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; i++) d[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::BF16: {
      auto d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; i++) d[i] = f32_to_bf16(src[i]);
      return;
    }
    default:
      if (is_quantized(to)) return quant::quantize(to, src, dst, int64_t(n));
      fail("cannot convert f32 to {}", dtype_name(to));
  }
}

}  // namespace zip

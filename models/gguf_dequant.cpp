// ggml tensors to f32: the block types the engine keeps dequantise through engine/quant; Q4_1 and
// Q5_K (imported, not kept) through its per-block functions.
#include "models/gguf_dequant.h"

#include <cstring>

#include "engine/dtype.h"
#include "engine/error.h"
#include "engine/quant/dequantize.h"
#include "models/gguf.h"

namespace zip::gguf {

bool can_dequantize(uint32_t type) {
  switch (GgmlType(type)) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16:
    case GgmlType::Q8_0:
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q5_0:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K: return true;
    default: return false;
  }
}

void dequantize(uint32_t type, const uint8_t* src, float* dst, uint64_t n) {
  int be = 0, bb = 0;
  ZIP_CHECK(can_dequantize(type) && ggml_type_traits(type, &be, &bb), "ggml type {} cannot be dequantised",
            ggml_type_name(type));
  ZIP_CHECK(n % uint64_t(be) == 0, "dequantise: {} elements is not a whole number of {} blocks", n,
            ggml_type_name(type));
  const uint64_t blocks = n / uint64_t(be);
  switch (GgmlType(type)) {
    case GgmlType::F32: std::memcpy(dst, src, n * 4); return;
    case GgmlType::F16: to_f32(DType::F16, src, dst, n); return;
    case GgmlType::BF16: to_f32(DType::BF16, src, dst, n); return;
    default: break;
  }
  switch (GgmlType(type)) {
    case GgmlType::Q8_0: return quant::dequantize(DType::Q8_0, src, dst, int64_t(n));
    case GgmlType::Q4_0: return quant::dequantize(DType::Q4_0, src, dst, int64_t(n));
    case GgmlType::Q5_0: return quant::dequantize(DType::Q5_0, src, dst, int64_t(n));
    case GgmlType::Q4_K: return quant::dequantize(DType::Q4_K, src, dst, int64_t(n));
    case GgmlType::Q6_K: return quant::dequantize(DType::Q6_K, src, dst, int64_t(n));
    default: break;
  }
  for (uint64_t i = 0; i < blocks; i++, src += bb, dst += be) {
    if (GgmlType(type) == GgmlType::Q4_1) quant::dequantize_block_q4_1(src, dst);
    if (GgmlType(type) == GgmlType::Q5_K) quant::dequantize_block_q5_k(src, dst);
  }
}

}  // namespace zip::gguf

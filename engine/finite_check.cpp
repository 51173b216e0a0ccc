#include "engine/finite_check.h"

#include <cmath>
#include <algorithm>

#include <cstring>
#include <vector>

#include "engine/dtype.h"
#include "engine/error.h"

namespace zip {

namespace {

// A value is NaN or ±inf exactly when its exponent bits are all ones, i.e. when its bits without
// the sign are >= the bits of +inf. A max over the block is a reduction compilers vectorise
// (vpmaxud / vpmaxuw); the element is searched for only in a block that has one.
template <typename Bits>
Bits max_magnitude_bits(const Bits* v, size_t n, Bits no_sign) {
  Bits m = 0;
  for (size_t i = 0; i < n; i++) m = std::max(m, Bits(v[i] & no_sign));
  return m;
}

template <typename Bits>
int64_t first_in(const void* data, size_t n, Bits no_sign, Bits inf) {
  const Bits* v = static_cast<const Bits*>(data);
  constexpr size_t kBlock = 4096;
  for (size_t at = 0; at < n; at += kBlock) {
    size_t len = std::min(kBlock, n - at);
    if (max_magnitude_bits(v + at, len, no_sign) < inf) continue;
    for (size_t i = at; i < at + len; i++)
      if (Bits(v[i] & no_sign) >= inf) return int64_t(i);
  }
  return -1;
}

// Block types hold integers and f16 scales: a non-finite value can only come from a scale. Returns
// the first element of the first block with a non-finite scale.
int64_t first_bad_block_scale(const Tensor& t) {
  const size_t bb = dtype_block_bytes(t.dtype), nb = t.nbytes() / bb;
  size_t offs[2] = {0, 0};
  int n_offs = 1;
  if (t.dtype == DType::Q4_K) offs[1] = 2, n_offs = 2;  // d, dmin
  if (t.dtype == DType::Q6_K) offs[0] = 208;            // d after ql, qh, scales
  const auto* p = static_cast<const uint8_t*>(t.data);
  for (size_t b = 0; b < nb; b++)
    for (int k = 0; k < n_offs; k++) {
      uint16_t h;
      std::memcpy(&h, p + b * bb + offs[k], 2);
      if ((h & 0x7fff) >= 0x7c00) return int64_t(b) * dtype_block_elems(t.dtype);
    }
  return -1;
}

}  // namespace

int64_t first_non_finite(const Tensor& t) {
  if (t.device != Device::CPU || t.empty()) return -1;
  const size_t n = size_t(t.numel());
  switch (t.dtype) {
    case DType::F32: return first_in<uint32_t>(t.data, n, 0x7fffffffu, 0x7f800000u);
    case DType::F16: return first_in<uint16_t>(t.data, n, uint16_t(0x7fff), uint16_t(0x7c00));
    case DType::BF16: return first_in<uint16_t>(t.data, n, uint16_t(0x7fff), uint16_t(0x7f80));
    default: return is_quantized(t.dtype) ? first_bad_block_scale(t) : -1;
  }
}

std::optional<NonFiniteValue> find_non_finite(const Model& m) {
  for (const auto& [name, t] : m.tensors) {  // std::map: name order
    int64_t i = first_non_finite(t);
    if (i < 0) continue;
    float x = 0;
    if (is_quantized(t.dtype)) {  // the block's dequantised values: its first non-finite one
      std::vector<float> block(size_t(dtype_block_elems(t.dtype)));
      to_f32(t.dtype, t.ptr<uint8_t>() + size_t(i / dtype_block_elems(t.dtype)) * dtype_block_bytes(t.dtype),
             block.data(), block.size());
      for (float v : block)
        if (!std::isfinite(v)) { x = v; break; }
    } else {
      to_f32(t.dtype, t.ptr<uint8_t>() + size_t(i) * dtype_size(t.dtype), &x, 1);
    }
    return NonFiniteValue{name, i, std::isnan(x) ? "nan" : (x > 0 ? "inf" : "-inf")};
  }
  return std::nullopt;
}

void require_finite_weights(const Model& m) {
  if (auto bad = find_non_finite(m))
    fail("tensor '{}' holds a non-finite value ({}) at index {}: the weights are corrupt (zip inspect --verify "
         "checks a file)", bad->tensor, bad->what, bad->index);
}

}  // namespace zip

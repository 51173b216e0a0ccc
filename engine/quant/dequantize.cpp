// Block dequantisers (layouts in blocks.h). Products and sums are kept as separate statements so
// no compiler fuses them into an FMA: the reference rounds after each operation, and the results
// must match it bit for bit.
#include "engine/quant/dequantize.h"

#include <cstring>

#include "engine/error.h"
#include "engine/quant/blocks.h"

namespace zip::quant {

namespace {

float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}

void dequant_q8_0(const uint8_t* b, float* y) {
  const float d = half_at(b);
  for (int j = 0; j < 32; j++) y[j] = float(int8_t(b[2 + j])) * d;
}

void dequant_q4_0(const uint8_t* b, float* y) {
  const float d = half_at(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; j++) {
    y[j] = d * float(int(qs[j] & 0x0f) - 8);
    y[j + 16] = d * float(int(qs[j] >> 4) - 8);
  }
}

void dequant_q5_0(const uint8_t* b, float* y) {
  const float d = half_at(b);
  const uint32_t qh = uint32_t(b[2]) | uint32_t(b[3]) << 8 | uint32_t(b[4]) << 16 | uint32_t(b[5]) << 24;
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; j++) {
    const int lo = (qs[j] & 0x0f) | int((qh >> j) & 1) << 4;
    const int hi = (qs[j] >> 4) | int((qh >> (j + 16)) & 1) << 4;
    y[j] = d * float(lo - 16);
    y[j + 16] = d * float(hi - 16);
  }
}

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block. Sub-blocks 0..3 keep
// theirs in the low 6 bits of bytes j (scale) and j+4 (min); sub-blocks 4..7 put the low 4 bits in
// byte j+4 (scale: low nibble, min: high nibble) and the top 2 bits in the spare high bits of
// bytes j-4 (scale) and j (min).
void scale_min_k4(int j, const uint8_t* s, int* sc, int* mn) {
  if (j < 4) {
    *sc = s[j] & 63;
    *mn = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
    *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// Q4_K and Q5_K share the super-block header; qh is null for Q4_K.
void dequant_k4_k5(const uint8_t* hdr, const uint8_t* qh, const uint8_t* qs, float* y) {
  const float d = half_at(hdr), dmin = half_at(hdr + 2);
  const uint8_t* scales = hdr + 4;
  for (int chunk = 0; chunk < 4; chunk++) {  // 64 elements: sub-blocks 2·chunk (low nibbles) and 2·chunk+1
    for (int half = 0; half < 2; half++) {
      const int sub = 2 * chunk + half;
      int sc, mn;
      scale_min_k4(sub, scales, &sc, &mn);
      const float ds = d * float(sc), dm = dmin * float(mn);
      const int shift = 4 * half, hbit = sub;
      for (int l = 0; l < 32; l++) {
        int q = (qs[l] >> shift) & 0x0f;
        if (qh) q |= ((qh[l] >> hbit) & 1) << 4;
        const float p = ds * float(q);
        y[32 * sub + l] = p - dm;
      }
    }
    qs += 32;
  }
}

void dequant_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half_at(b + 208);
  for (int n = 0; n < 2; n++) {  // two halves of 128 elements
    for (int l = 0; l < 32; l++) {
      const int q[4] = {
          ((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32,
          ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32,
          ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32,
          ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32,
      };
      for (int k = 0; k < 4; k++) {
        const int pos = 32 * k + l;  // element within the half; its sub-block of 16 is pos / 16
        const float ds = d * float(sc[pos / 16]);
        y[pos] = ds * float(q[k]);
      }
    }
    y += 128;
    ql += 64;
    qh += 32;
    sc += 8;
  }
}

}  // namespace

void dequantize(DType t, const void* src, float* dst, int64_t n) {
  ZIP_CHECK(is_quantized(t), "dequantize: {} is not a block type", dtype_name(t));
  const int be = dtype_block_elems(t);
  const size_t bb = dtype_block_bytes(t);
  ZIP_CHECK(n % be == 0, "dequantize: {} elements is not a whole number of {} blocks", n, dtype_name(t));
  auto b = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n / be; i++, b += bb, dst += be) {
    switch (t) {
      case DType::Q8_0: dequant_q8_0(b, dst); break;
      case DType::Q4_0: dequant_q4_0(b, dst); break;
      case DType::Q5_0: dequant_q5_0(b, dst); break;
      case DType::Q4_K: dequant_k4_k5(b, nullptr, b + 16, dst); break;
      case DType::Q6_K: dequant_q6_k(b, dst); break;
      default: break;
    }
  }
}

void dequantize_block_q4_1(const uint8_t* b, float* y) {
  const float d = half_at(b), m = half_at(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; j++) {
    const float lo = d * float(qs[j] & 0x0f);
    const float hi = d * float(qs[j] >> 4);
    y[j] = lo + m;
    y[j + 16] = hi + m;
  }
}

void dequantize_block_q5_k(const uint8_t* b, float* y) { dequant_k4_k5(b, b + 16, b + 48, y); }

}  // namespace zip::quant

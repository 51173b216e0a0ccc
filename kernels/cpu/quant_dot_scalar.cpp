// The scalar reference of the integer dot products (quant_kernels.h gives the arithmetic): plain
// loops over one (x row, W row) pair at a time, written independently of the SIMD paths so the
// tests compare two implementations.
#include <cmath>
#include <cstring>

#include "base/float16.h"
#include "engine/quant/blocks.h"
#include "kernels/cpu/quant_act.h"
#include "kernels/cpu/quant_tile_loop.h"

namespace zip::cpu::qdot {
namespace {

using namespace zip::quant;

float half(const uint16_t& h) { return f16_to_f32(h); }


// Q8_0 / Q4_0: four float accumulators, block b into acc[b % 4], summed (acc0 + acc2) + (acc1 + acc3).
float sum4(const float* acc) { return (acc[0] + acc[2]) + (acc[1] + acc[3]); }

float row_q8_0(const uint8_t* w, const ActRow32& x, int nb) {
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int b = 0; b < nb; b++) {
    BlockQ8_0 blk;
    std::memcpy(&blk, w + size_t(b) * sizeof(BlockQ8_0), sizeof blk);
    int32_t isum = 0;
    for (int k = 0; k < 32; k++) isum += int32_t(blk.qs[k]) * x.q[32 * b + k];
    const float s = half(blk.d) * x.d[b];
    acc[b % 4] = std::fma(s, float(isum), acc[b % 4]);
  }
  return sum4(acc);
}

float row_q4_0(const uint8_t* w, const ActRow32& x, int nb) {
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int b = 0; b < nb; b++) {
    BlockQ4_0 blk;
    std::memcpy(&blk, w + size_t(b) * sizeof(BlockQ4_0), sizeof blk);
    const int8_t* xq = x.q + 32 * b;
    int32_t isum = 0;
    for (int k = 0; k < 16; k++)
      isum += (int32_t(blk.qs[k] & 0x0f) - 8) * xq[k] + (int32_t(blk.qs[k] >> 4) - 8) * xq[k + 16];
    const float s = half(blk.d) * x.d[b];
    acc[b % 4] = std::fma(s, float(isum), acc[b % 4]);
  }
  return sum4(acc);
}

float row_q5_0(const uint8_t* w, const ActRow32& x, int nb) {
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int b = 0; b < nb; b++) {
    BlockQ5_0 blk;
    std::memcpy(&blk, w + size_t(b) * sizeof(BlockQ5_0), sizeof blk);
    const int8_t* xq = x.q + 32 * b;
    int32_t isum = 0;
    for (int k = 0; k < 32; k++) {
      const int lo = k < 16 ? blk.qs[k] & 0x0f : blk.qs[k - 16] >> 4;
      const int hi = (blk.qh[k / 8] >> (k % 8)) & 1;
      isum += (int32_t(lo | hi << 4) - 16) * xq[k];
    }
    const float s = half(blk.d) * x.d[b];
    acc[b % 4] = std::fma(s, float(isum), acc[b % 4]);
  }
  return sum4(acc);
}

void scale_min(int j, const uint8_t* s, int* sc, int* mn) {
  if (j < 4) {
    *sc = s[j] & 63;
    *mn = s[j + 4] & 63;
  } else {
    *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
    *mn = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

float row_q4_k(const uint8_t* w, const ActBlock256* x, int nb) {
  float acc = 0.0f;
  for (int b = 0; b < nb; b++) {
    BlockQ4_K blk;
    std::memcpy(&blk, w + size_t(b) * sizeof(BlockQ4_K), sizeof blk);
    int32_t isum = 0, msum = 0;
    for (int sub = 0; sub < 8; sub++) {
      int sc, mn;
      scale_min(sub, blk.scales, &sc, &mn);
      const uint8_t* qs = blk.qs + 32 * (sub / 2);
      const int shift = 4 * (sub % 2);
      int32_t dot = 0;
      for (int l = 0; l < 32; l++) dot += int32_t((qs[l] >> shift) & 0x0f) * x[b].q[32 * sub + l];
      isum += sc * dot;
      msum += mn * (int32_t(x[b].bsums[2 * sub]) + x[b].bsums[2 * sub + 1]);
    }
    const float s = half(blk.d) * x[b].d, sm = half(blk.dmin) * x[b].d;
    acc = std::fma(s, float(isum), acc);
    acc = std::fma(-sm, float(msum), acc);
  }
  return acc;
}

float row_q6_k(const uint8_t* w, const ActBlock256* x, int nb) {
  float acc = 0.0f;
  for (int b = 0; b < nb; b++) {
    BlockQ6_K blk;
    std::memcpy(&blk, w + size_t(b) * sizeof(BlockQ6_K), sizeof blk);
    int32_t isum = 0;
    for (int h = 0; h < 2; h++) {
      const uint8_t* ql = blk.ql + 64 * h;
      const uint8_t* qh = blk.qh + 32 * h;
      const int8_t* xq = x[b].q + 128 * h;
      for (int l = 0; l < 32; l++) {
        const int q[4] = {(ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4), (ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4),
                          (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4), (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)};
        for (int g = 0; g < 4; g++) {
          const int pos = 32 * g + l;
          isum += int32_t(blk.scales[8 * h + pos / 16]) * (q[g] - 32) * xq[pos];
        }
      }
    }
    const float s = half(blk.d) * x[b].d;
    acc = std::fma(s, float(isum), acc);
  }
  return acc;
}

template <float (*row)(const uint8_t*, const ActRow32&, int)>
struct ScalarTile32 {
  static constexpr int kMaxMR = 1;
  template <int MR>
  static void tile(const Job& J, int m, const uint8_t* const* wr, float (*out)[kNR]) {
    const ActRow32 x = act32_row(J.x + size_t(m) * J.x_row_bytes, J.nb);
    for (int j = 0; j < kNR; j++) out[0][j] = row(wr[j], x, J.nb);
  }
};

template <float (*row)(const uint8_t*, const ActBlock256*, int)>
struct ScalarTile256 {
  static constexpr int kMaxMR = 1;
  template <int MR>
  static void tile(const Job& J, int m, const uint8_t* const* wr, float (*out)[kNR]) {
    const ActBlock256* x = reinterpret_cast<const ActBlock256*>(J.x + size_t(m) * J.x_row_bytes);
    for (int j = 0; j < kNR; j++) out[0][j] = row(wr[j], x, J.nb);
  }
};

}  // namespace

const Kernels& scalar_kernels() {
  static const Kernels k = make_kernels<ScalarTile32<row_q8_0>, ScalarTile32<row_q4_0>, ScalarTile32<row_q5_0>,
                                        ScalarTile256<row_q4_k>,
                                        ScalarTile256<row_q6_k>>();
  return k;
}

}  // namespace zip::cpu::qdot

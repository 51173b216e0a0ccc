// K-quant reference quantisers, written after ggml's quantize_row_q4_K_ref (make_qkx2_quants: a
// scale and min per 32-element sub-block, searched over 21 candidate scales) and
// quantize_row_q6_K_ref (make_qx_quants: a signed scale per 16-element sub-block, searched over
// 19 candidates). Same f32 operations in the same order, so results match ggml's reference.
#include "engine/quant/quantize_k.h"

// The reference rounds after every operation: no fused multiply-adds in this file.
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/float16.h"

namespace zip::quant {

namespace {

constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest, ties to even, through the float adder as ggml's nearest_int does (|x| < 2^22).
int nearest_int(float x) {
  const float v = x + 12582912.0f;
  int32_t i;
  std::memcpy(&i, &v, 4);
  return (i & 0x007fffff) - 0x00400000;
}

// Scale and (negated) min of n values with levels 0..nmax; weights w; L gets the levels.
float make_qkx2_quants(int n, int nmax, const float* x, const float* w, uint8_t* L, float* the_min, uint8_t* Laux,
                       float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; i++) {
    min = x[i] < min ? x[i] : min;
    max = x[i] > max ? x[i] : max;
    sum_w += w[i];
    const float wx = w[i] * x[i];
    sum_x += wx;
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; i++) L[i] = 0;
    *the_min = -min;
    return 0.0f;
  }
  float iscale = float(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; i++) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = uint8_t(std::clamp(l, 0, nmax));
    const float sl = scale * float(L[i]);
    const float diff = sl + min - x[i];
    const float d2 = diff * diff;
    best_error += w[i] * d2;
  }
  for (int is = 0; is <= nstep; is++) {
    const float rd = rdelta * float(is);
    iscale = (rmin + rd + float(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; i++) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = uint8_t(l);
      const float wl = w[i] * float(l);
      sum_l += wl;
      sum_l2 += wl * float(l);
      const float wlx = wl * x[i];
      sum_xl += wlx;
    }
    const float a = sum_w * sum_l2, b = sum_l * sum_l;
    const float D = a - b;
    if (D > 0) {
      const float p1 = sum_w * sum_xl, p2 = sum_x * sum_l;
      float this_scale = (p1 - p2) / D;
      const float p3 = sum_l2 * sum_x, p4 = sum_l * sum_xl;
      float this_min = (p3 - p4) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; i++) {
        const float sl = this_scale * float(Laux[i]);
        const float diff = sl + this_min - x[i];
        const float d2 = diff * diff;
        cur_error += w[i] * d2;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; i++) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// Signed scale of n values with levels −nmax..nmax−1 (stored +nmax in L), weights x² (rmse_type 1).
float make_qx_quants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; i++) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; i++) L[i] = 0;
    return 0.0f;
  }
  auto level = [&](float iscale, int i) { return std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1); };
  float iscale = float(-nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; i++) {
    const int l = level(iscale, i);
    L[i] = int8_t(l + nmax);
    const float w = x[i] * x[i];
    const float wx = w * x[i];
    sumlx += wx * float(l);
    const float wl = w * float(l);
    suml2 += wl * float(l);
  }
  float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; is++) {
    if (is == 0) continue;
    const float t = 0.1f * float(is);
    iscale = -(float(nmax) + t) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; i++) {
      const int l = level(iscale, i);
      const float w = x[i] * x[i];
      const float wx = w * x[i];
      sumlx += wx * float(l);
      const float wl = w * float(l);
      suml2 += wl * float(l);
    }
    const float lhs = sumlx * sumlx, rhs = best * suml2;
    if (suml2 > 0 && lhs > rhs) {
      for (int i = 0; i < n; i++) L[i] = int8_t(nmax + level(iscale, i));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

}  // namespace

void quantize_block_q4_k(const float* x, BlockQ4_K* y) {
  uint8_t L[kQK_K], Laux[32];
  float weights[32], mins[8], scales[8];
  float max_scale = 0, max_min = 0;
  for (int j = 0; j < 8; j++) {
    float sum_x2 = 0;
    for (int l = 0; l < 32; l++) {
      const float sq = x[32 * j + l] * x[32 * j + l];
      sum_x2 += sq;
    }
    const float av_x = std::sqrt(sum_x2 / 32);
    for (int l = 0; l < 32; l++) weights[l] = av_x + std::fabs(x[32 * j + l]);
    scales[j] = make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.0f, 0.1f, 20);
    if (scales[j] > max_scale) max_scale = scales[j];
    if (mins[j] > max_min) max_min = mins[j];
  }
  const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
  for (int j = 0; j < 8; j++) {
    // ggml stores nearest_int into a uint8_t before clamping: keep that truncation.
    const uint8_t ls = std::min<uint8_t>(63, uint8_t(nearest_int(inv_scale * scales[j])));
    const uint8_t lm = std::min<uint8_t>(63, uint8_t(nearest_int(inv_min * mins[j])));
    if (j < 4) {
      y->scales[j] = ls;
      y->scales[j + 4] = lm;
    } else {
      y->scales[j + 4] = uint8_t((ls & 0xf) | ((lm & 0xf) << 4));
      y->scales[j - 4] |= uint8_t((ls >> 4) << 6);
      y->scales[j] |= uint8_t((lm >> 4) << 6);
    }
  }
  y->d = f32_to_f16(max_scale / 63.0f);
  y->dmin = f32_to_f16(max_min / 63.0f);
  for (int j = 0; j < 8; j++) {
    int sc, m;
    if (j < 4) {
      sc = y->scales[j] & 63;
      m = y->scales[j + 4] & 63;
    } else {
      sc = (y->scales[j + 4] & 0xf) | ((y->scales[j - 4] >> 6) << 4);
      m = (y->scales[j + 4] >> 4) | ((y->scales[j] >> 6) << 4);
    }
    const float d = f16_to_f32(y->d) * float(sc);
    if (d == 0) continue;
    const float dm = f16_to_f32(y->dmin) * float(m);
    for (int ii = 0; ii < 32; ii++) L[32 * j + ii] = uint8_t(std::clamp(nearest_int((x[32 * j + ii] + dm) / d), 0, 15));
  }
  uint8_t* q = y->qs;
  for (int j = 0; j < kQK_K; j += 64, q += 32)
    for (int l = 0; l < 32; l++) q[l] = uint8_t(L[j + l] | (L[j + l + 32] << 4));
}

void quantize_block_q6_k(const float* x, BlockQ6_K* y) {
  int8_t L[kQK_K];
  float scales[16];
  float max_scale = 0, max_abs_scale = 0;
  for (int ib = 0; ib < 16; ib++) {
    scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib);
    const float a = std::fabs(scales[ib]);
    if (a > max_abs_scale) {
      max_abs_scale = a;
      max_scale = scales[ib];
    }
  }
  if (max_abs_scale < kGroupMaxEps) {
    std::memset(y, 0, sizeof(*y));
    return;
  }
  const float iscale = -128.0f / max_scale;
  y->d = f32_to_f16(1 / iscale);
  for (int ib = 0; ib < 16; ib++) y->scales[ib] = int8_t(std::min(127, nearest_int(iscale * scales[ib])));
  for (int j = 0; j < 16; j++) {
    const float d = f16_to_f32(y->d) * float(y->scales[j]);
    if (d == 0) continue;
    for (int ii = 0; ii < 16; ii++) L[16 * j + ii] = int8_t(std::clamp(nearest_int(x[16 * j + ii] / d), -32, 31) + 32);
  }
  uint8_t* ql = y->ql;
  uint8_t* qh = y->qh;
  for (int j = 0; j < kQK_K; j += 128, ql += 64, qh += 32)
    for (int l = 0; l < 32; l++) {
      const uint8_t q1 = L[j + l] & 0xf, q2 = L[j + l + 32] & 0xf, q3 = L[j + l + 64] & 0xf, q4 = L[j + l + 96] & 0xf;
      ql[l] = uint8_t(q1 | (q3 << 4));
      ql[l + 32] = uint8_t(q2 | (q4 << 4));
      qh[l] = uint8_t((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                      ((L[j + l + 96] >> 4) << 6));
    }
}

}  // namespace zip::quant

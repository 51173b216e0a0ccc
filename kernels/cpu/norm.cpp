// RMSNorm and LayerNorm over rows; statistics accumulated in double for stability with wide rows.
#include <cmath>

#include "kernels/cpu/cpu_kernels.h"
#include "base/simd.h"

namespace zip::cpu {

using namespace zip::simd;

void rmsnorm(float* y, const float* x, const float* w, int M, int D, float eps) {
  for (int m = 0; m < M; m++) {
    const float* xm = x + size_t(m) * D;
    float* ym = y + size_t(m) * D;
    double ss = dot(xm, xm, D);
    float inv = float(1.0 / std::sqrt(ss / D + eps));
    vf vinv = set1(inv);
    int i = 0;
    for (; i + W <= D; i += W) store(ym + i, mul(mul(load(xm + i), vinv), load(w + i)));
    for (; i < D; i++) ym[i] = xm[i] * inv * w[i];
  }
}

void layernorm(float* y, const float* x, const float* w, const float* b, int M, int D, float eps) {
  for (int m = 0; m < M; m++) {
    const float* xm = x + size_t(m) * D;
    float* ym = y + size_t(m) * D;
    double mean = 0, var = 0;
    for (int i = 0; i < D; i++) mean += xm[i];
    mean /= D;
    for (int i = 0; i < D; i++) var += (xm[i] - mean) * (xm[i] - mean);
    float inv = float(1.0 / std::sqrt(var / D + eps)), fm = float(mean);
    for (int i = 0; i < D; i++) ym[i] = (xm[i] - fm) * inv * w[i] + (b ? b[i] : 0.0f);
  }
}

}  // namespace zip::cpu

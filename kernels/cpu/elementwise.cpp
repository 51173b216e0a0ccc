// Element-wise activations and row softmax. GELU and SiLU use the exact functions (erf, tanh,
// exp from libm), never lookup tables.
#include <cmath>

#include "kernels/cpu/cpu_kernels.h"
#include "base/simd.h"

namespace zip::cpu {

void swiglu(float* y, const float* gate, const float* up, size_t n) {
  using namespace zip::simd;
  size_t i = 0;
  for (; i + W <= n; i += W) {
    vf g = load(gate + i);
    vf e = exp(mul(g, set1(-1.0f)));
#if ZIP_SIMD_AVX512
    vf s = _mm512_div_ps(g, add(set1(1.0f), e));
#elif ZIP_SIMD_AVX2
    vf s = _mm256_div_ps(g, add(set1(1.0f), e));
#else
    vf s = g / (1.0f + e);
#endif
    store(y + i, mul(s, load(up + i)));
  }
  for (; i < n; i++) {
    float g = gate[i];
    y[i] = g / (1.0f + std::exp(-g)) * up[i];
  }
}

void gelu(float* y, const float* x, size_t n, GeluKind kind) {
  if (kind == GeluKind::Erf) {
    for (size_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * float(M_SQRT1_2)));
  } else {
    const float c = float(std::sqrt(2.0 / M_PI));
    for (size_t i = 0; i < n; i++) {
      float v = x[i];
      y[i] = 0.5f * v * (1.0f + std::tanh(c * (v + 0.044715f * v * v * v)));
    }
  }
}

void softmax_row(float* x, int n) {
  float mx = -INFINITY, sum = 0;
  for (int i = 0; i < n; i++) mx = std::max(mx, x[i]);
  for (int i = 0; i < n; i++) sum += (x[i] = std::exp(x[i] - mx));
  float inv = 1.0f / sum;
  for (int i = 0; i < n; i++) x[i] *= inv;
}

void softmax(float* x, int M, int N) {
  for (int m = 0; m < M; m++) softmax_row(x + size_t(m) * N, N);
}

}  // namespace zip::cpu

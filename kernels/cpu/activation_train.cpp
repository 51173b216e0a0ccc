// Elementwise activations (GELU tanh/erf, SwiGLU, tanh) and embedding lookups, each forward with
// its backward. GELU uses the exact formulas (no tables), as the inference backends do.
#include <cmath>

#include "kernels/cpu/train_kernels.h"
#include "base/simd.h"

namespace zip::train::cpu {
namespace {

constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2/π)
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  // 1/sqrt(2π)

template <typename Fn>
void elementwise(ThreadPool& pool, size_t n, double cost, Fn&& fn) {
  parallel_for(pool, n, cost, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; i++) fn(i);
  });
}

}  // namespace

void exp_array(float* y, const float* x, size_t n) {
  using namespace zip::simd;
  size_t i = 0;
  for (; i + W <= n; i += W) store(y + i, simd::exp(load(x + i)));
  for (; i < n; i++) y[i] = std::exp(x[i]);
}

void exp_array(double* y, const double* x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = std::exp(x[i]);
}

template <typename T>
void gelu_fwd(ThreadPool& pool, T* y, const T* x, size_t n, GeluKind kind) {
  if (kind == GeluKind::Erf)
    elementwise(pool, n, 20, [&](size_t i) { y[i] = T(0.5) * x[i] * (T(1) + std::erf(x[i] * T(kInvSqrt2))); });
  else
    elementwise(pool, n, 20, [&](size_t i) {
      T v = x[i];
      y[i] = T(0.5) * v * (T(1) + std::tanh(T(kSqrt2OverPi) * (v + T(0.044715) * v * v * v)));
    });
}

template <typename T>
void gelu_bwd(ThreadPool& pool, T* dx, const T* dy, const T* x, size_t n, GeluKind kind) {
  if (kind == GeluKind::Erf)
    // d/dx [x·Φ(x)] = Φ(x) + x·φ(x)
    elementwise(pool, n, 30, [&](size_t i) {
      T v = x[i];
      T cdf = T(0.5) * (T(1) + std::erf(v * T(kInvSqrt2)));
      dx[i] += dy[i] * (cdf + v * T(kInvSqrt2Pi) * std::exp(T(-0.5) * v * v));
    });
  else
    // u = c·(x + a·x³):  d/dx [½x(1 + tanh u)] = ½(1 + tanh u) + ½x(1 - tanh² u)·c·(1 + 3a·x²)
    elementwise(pool, n, 30, [&](size_t i) {
      T v = x[i];
      T th = std::tanh(T(kSqrt2OverPi) * (v + T(0.044715) * v * v * v));
      T du = T(kSqrt2OverPi) * (T(1) + T(3 * 0.044715) * v * v);
      dx[i] += dy[i] * (T(0.5) * (T(1) + th) + T(0.5) * v * (T(1) - th * th) * du);
    });
}

namespace {
// Runs fn(i0, n, e) over blocks of up to 256 elements with e[j] = exp(-gate[i0 + j]), so the
// exponentials are computed vectorised.
template <typename T, typename Fn>
void with_exp_neg(ThreadPool& pool, const T* gate, size_t n, double cost, Fn&& fn) {
  constexpr size_t kBlock = 256;
  parallel_for(pool, (n + kBlock - 1) / kBlock, cost * kBlock, [&](size_t b0, size_t b1) {
    T e[kBlock];
    for (size_t b = b0; b < b1; b++) {
      size_t i0 = b * kBlock, m = std::min(kBlock, n - i0);
      for (size_t j = 0; j < m; j++) e[j] = -gate[i0 + j];
      exp_array(e, e, m);
      fn(i0, m, e);
    }
  });
}
}  // namespace

template <typename T>
void swiglu_fwd(ThreadPool& pool, T* y, const T* gate, const T* up, size_t n) {
  with_exp_neg(pool, gate, n, 8, [&](size_t i0, size_t m, const T* e) {
    for (size_t j = 0; j < m; j++) y[i0 + j] = gate[i0 + j] / (T(1) + e[j]) * up[i0 + j];
  });
}

template <typename T>
void swiglu_bwd(ThreadPool& pool, T* dgate, T* dup, const T* dy, const T* gate, const T* up, size_t n) {
  // y = g·σ(g)·u:  dg = dy·u·σ(g)·(1 + g·(1 - σ(g))),  du = dy·g·σ(g)
  with_exp_neg(pool, gate, n, 12, [&](size_t i0, size_t m, const T* e) {
    for (size_t j = 0; j < m; j++) {
      size_t i = i0 + j;
      T g = gate[i], s = T(1) / (T(1) + e[j]);
      if (dgate) dgate[i] += dy[i] * up[i] * s * (T(1) + g * (T(1) - s));
      if (dup) dup[i] += dy[i] * g * s;
    }
  });
}

template <typename T>
void tanh_fwd(ThreadPool& pool, T* y, const T* x, size_t n) {
  elementwise(pool, n, 20, [&](size_t i) { y[i] = std::tanh(x[i]); });
}

template <typename T>
void tanh_bwd(ThreadPool& pool, T* dx, const T* dy, const T* y, size_t n) {
  elementwise(pool, n, 2, [&](size_t i) { dx[i] += dy[i] * (T(1) - y[i] * y[i]); });
}

template <typename T>
void embedding_fwd(ThreadPool& pool, T* y, const T* table, const int* ids, int M, int D, bool accumulate) {
  parallel_for(pool, size_t(M), double(D), [&](size_t m0, size_t m1) {
    for (size_t m = m0; m < m1; m++) {
      const T* row = table + size_t(ids[m]) * D;
      T* ym = y + m * size_t(D);
      if (accumulate)
        for (int j = 0; j < D; j++) ym[j] += row[j];
      else
        for (int j = 0; j < D; j++) ym[j] = row[j];
    }
  });
}

template <typename T>
void embedding_bwd(ThreadPool& pool, T* dtable, const T* dy, const int* ids, int M, int D) {
  // Rows repeat ids, so threads split columns, not rows: no two threads touch one element.
  constexpr size_t kCols = 16;
  size_t n_blocks = (size_t(D) + kCols - 1) / kCols;
  parallel_for(pool, n_blocks, double(M) * kCols, [&](size_t b0, size_t b1) {
    size_t j0 = b0 * kCols, j1 = std::min(size_t(D), b1 * kCols);
    for (int m = 0; m < M; m++) {
      T* row = dtable + size_t(ids[m]) * D;
      const T* g = dy + size_t(m) * D;
      for (size_t j = j0; j < j1; j++) row[j] += g[j];
    }
  });
}

#define ZIP_INSTANTIATE(T)                                                                   \
  template void gelu_fwd<T>(ThreadPool&, T*, const T*, size_t, GeluKind);                   \
  template void gelu_bwd<T>(ThreadPool&, T*, const T*, const T*, size_t, GeluKind);         \
  template void swiglu_fwd<T>(ThreadPool&, T*, const T*, const T*, size_t);                 \
  template void swiglu_bwd<T>(ThreadPool&, T*, T*, const T*, const T*, const T*, size_t);   \
  template void tanh_fwd<T>(ThreadPool&, T*, const T*, size_t);                             \
  template void tanh_bwd<T>(ThreadPool&, T*, const T*, const T*, size_t);                   \
  template void embedding_fwd<T>(ThreadPool&, T*, const T*, const int*, int, int, bool);    \
  template void embedding_bwd<T>(ThreadPool&, T*, const T*, const int*, int, int);
ZIP_INSTANTIATE(float)
ZIP_INSTANTIATE(double)
#undef ZIP_INSTANTIATE

}  // namespace zip::train::cpu

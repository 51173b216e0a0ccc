// The inference product (see gemm.h for why it is not the GEMM core): y[M,N] = x[M,K] · W[N,K]ᵀ
// (+ bias), register tiles of MR rows of x by NR rows of W, vectorised along K, weights widened
// from f16/bf16 in registers. Threads split the N (weight-row) range, so each thread streams its
// own slice of W once, whatever M is.
#include <algorithm>

#include "engine/error.h"
#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/quant_kernels.h"
#include "base/simd.h"

namespace zip::cpu {
namespace {

using namespace zip::simd;

// One MR×NR tile: y[m, n] for m < MR, n < NR.
template <int MR, int NR, typename T>
inline void tile(const float* x, const T* w, int K, float* y, int ldy, const float* bias) {
  vf acc[MR][NR];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) acc[i][j] = zero();
  int k = 0;
  for (; k + W <= K; k += W) {
    vf xv[MR];
    for (int i = 0; i < MR; i++) xv[i] = load(x + size_t(i) * K + k);
    for (int j = 0; j < NR; j++) {
      vf wv = load(w + size_t(j) * K + k);
      for (int i = 0; i < MR; i++) acc[i][j] = fma(xv[i], wv, acc[i][j]);
    }
  }
  if (k < K) {
    int r = K - k;
    vf xv[MR];
    for (int i = 0; i < MR; i++) xv[i] = load_n(x + size_t(i) * K + k, r);
    for (int j = 0; j < NR; j++) {
      vf wv = load_n(w + size_t(j) * K + k, r);
      for (int i = 0; i < MR; i++) acc[i][j] = fma(xv[i], wv, acc[i][j]);
    }
  }
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) y[size_t(i) * ldy + j] = hsum(acc[i][j]) + (bias ? bias[j] : 0.0f);
}

#if ZIP_SIMD_AVX512
constexpr int kMR = 4, kNR = 4;  // 16 accumulators of 32 registers
#else
constexpr int kMR = 4, kNR = 2;  // 8 accumulators of 16 registers
#endif
constexpr int kNR1 = 8;          // decode (M = 1): more independent chains per x row

// Rows [n0, n1) of the output for all M rows of x. With several rows of x, W is walked in
// panels small enough to stay in L2 while every row of x passes over them (otherwise W would be
// re-read from memory once per block of x rows).
template <typename T>
void matmul_range(float* y, const float* x, const T* w, const float* bias, int M, int N, int K, int n0, int n1) {
  const int panel = M < kMR ? n1 - n0 : std::max(kNR, int(96 * 1024 / (size_t(K) * sizeof(T))) / kNR * kNR);
  for (int p0 = n0; p0 < n1; p0 += panel) {
    const int p1 = std::min(n1, p0 + panel);
    int m = 0;
    for (; m + kMR <= M; m += kMR) {
      const float* xm = x + size_t(m) * K;
      float* ym = y + size_t(m) * N;
      int n = p0;
      for (; n + kNR <= p1; n += kNR) tile<kMR, kNR>(xm, w + size_t(n) * K, K, ym + n, N, bias ? bias + n : nullptr);
      for (; n < p1; n++) tile<kMR, 1>(xm, w + size_t(n) * K, K, ym + n, N, bias ? bias + n : nullptr);
    }
    for (; m < M; m++) {
      const float* xm = x + size_t(m) * K;
      float* ym = y + size_t(m) * N;
      int n = p0;
      for (; n + kNR1 <= p1; n += kNR1) tile<1, kNR1>(xm, w + size_t(n) * K, K, ym + n, N, bias ? bias + n : nullptr);
      for (; n < p1; n++) tile<1, 1>(xm, w + size_t(n) * K, K, ym + n, N, bias ? bias + n : nullptr);
    }
  }
}

template <typename T>
void matmul_typed(ThreadPool& pool, float* y, const float* x, const T* w, const float* bias, int M, int N, int K) {
  double flops = double(M) * N * K;
  int nt = pool.size();
  if (nt == 1 || flops < kParallelMinFlops || N < 2 * kNR1) {
    matmul_range(y, x, w, bias, M, N, K, 0, N);
    return;
  }
  pool.run([&](int t, int n_threads) {
    // Split N in multiples of 8 so every thread gets whole tiles.
    size_t b, e;
    ThreadPool::split(size_t((N + 7) / 8), t, n_threads, &b, &e);
    int n0 = int(b) * 8, n1 = std::min(N, int(e) * 8);
    if (n0 < n1) matmul_range(y, x, w, bias, M, N, K, n0, n1);
  });
}

}  // namespace

void matmul(ThreadPool& pool, float* y, const float* x, const Tensor& W, const float* bias, int M) {
  int N = int(W.dim(0)), K = int(W.dim(1));
  switch (W.dtype) {
    case DType::F32: return matmul_typed(pool, y, x, W.ptr<float>(), bias, M, N, K);
    case DType::F16: return matmul_typed(pool, y, x, static_cast<const f16*>(W.data), bias, M, N, K);
    case DType::BF16: return matmul_typed(pool, y, x, static_cast<const bf16*>(W.data), bias, M, N, K);
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q5_0:
    case DType::Q4_K:
    case DType::Q6_K: return quant_matmul(pool, y, x, W, bias, M, best_quant_path(), act_terms());
    default: fail("matmul: unsupported weight dtype {}", dtype_name(W.dtype));
  }
}

}  // namespace zip::cpu

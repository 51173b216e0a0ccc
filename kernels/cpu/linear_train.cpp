// Linear layers: y = x·Wᵀ + b and its backward (dx = dy·W, dW = dyᵀ·x, db = Σ dy), each a call
// of the GEMM core (gemm.h) with strides that read the transposed operands in place; at bf16 the
// same three products through gemm_bf16.h (the forward with W packed once per update).
#include "kernels/cpu/train_kernels.h"

namespace zip::train::cpu {

template <typename T>
void linear_fwd(ThreadPool& pool, T* y, const T* x, const T* W, const T* b, int M, int K, int N) {
  // y[M,N] = x[M,K] · Wᵀ, where Wᵀ(k, n) = W[n·K + k].
  gemm(&pool, y, size_t(N), x, Strides{size_t(K), 1}, W, Strides{1, size_t(K)}, M, N, K, false, b);
}

template <typename T>
void linear_bwd(ThreadPool& pool, T* dx, T* dW, T* db, const T* dy, const T* x, const T* W, int M, int K, int N) {
  const T* none = nullptr;
  // dx[M,K] += dy[M,N] · W[N,K]
  if (dx) gemm(&pool, dx, size_t(K), dy, Strides{size_t(N), 1}, W, Strides{size_t(K), 1}, M, K, N, true, none);
  // dW[N,K] += dyᵀ[N,M] · x[M,K], where dyᵀ(n, m) = dy[m·N + n]
  if (dW) gemm(&pool, dW, size_t(K), dy, Strides{1, size_t(N)}, x, Strides{size_t(K), 1}, N, K, M, true, none);
  if (db) bias_bwd(pool, db, dy, M, N);
}

template <typename T>
void bias_fwd(ThreadPool& pool, T* y, const T* b, int M, int N) {
  parallel_for(pool, size_t(M), double(N), [&](size_t m0, size_t m1) {
    for (size_t m = m0; m < m1; m++)
      for (int n = 0; n < N; n++) y[m * size_t(N) + size_t(n)] += b[n];
  });
}

template <typename T>
void bias_bwd(ThreadPool& pool, T* db, const T* dy, int M, int N) {
  // Threads own column ranges (no races); rows are summed in order inside each.
  constexpr size_t kCols = 64;
  size_t n_blocks = (size_t(N) + kCols - 1) / kCols;
  parallel_for(pool, n_blocks, double(M) * kCols, [&](size_t c0, size_t c1) {
    size_t j0 = c0 * kCols, j1 = std::min(size_t(N), c1 * kCols);
    for (int m = 0; m < M; m++) {
      const T* row = dy + size_t(m) * N;
      for (size_t j = j0; j < j1; j++) db[j] += row[j];
    }
  });
}

void linear_fwd_bf16(ThreadPool& pool, float* y, const float* x, const zip::cpu::PackedB& Wt_packed, const float* b,
                     int M) {
  zip::cpu::gemm_bf16(&pool, y, size_t(Wt_packed.N), x, Strides{size_t(Wt_packed.K), 1}, Wt_packed, M, false, b);
}

void linear_bwd_bf16(ThreadPool& pool, float* dx, float* dW, float* db, const float* dy, const float* x,
                     const float* W, int M, int K, int N) {
  using zip::cpu::gemm_bf16;
  const float* none = nullptr;
  if (dx) gemm_bf16(&pool, dx, size_t(K), dy, Strides{size_t(N), 1}, W, Strides{size_t(K), 1}, M, K, N, true, none);
  if (dW) gemm_bf16(&pool, dW, size_t(K), dy, Strides{1, size_t(N)}, x, Strides{size_t(K), 1}, N, K, M, true, none);
  if (db) bias_bwd(pool, db, dy, M, N);  // f32: a sum, not a product
}

#define ZIP_INSTANTIATE(T)                                                                                  \
  template void linear_fwd<T>(ThreadPool&, T*, const T*, const T*, const T*, int, int, int);               \
  template void linear_bwd<T>(ThreadPool&, T*, T*, T*, const T*, const T*, const T*, int, int, int);       \
  template void bias_fwd<T>(ThreadPool&, T*, const T*, int, int);                                          \
  template void bias_bwd<T>(ThreadPool&, T*, const T*, int, int);
ZIP_INSTANTIATE(float)
ZIP_INSTANTIATE(double)
#undef ZIP_INSTANTIATE

}  // namespace zip::train::cpu

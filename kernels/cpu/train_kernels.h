// The CPU training kernels behind CpuTrainOps (cpu_train_ops.cpp), each op's forward and backward
// side by side, one file per concern: linear_train.cpp, norm_train.cpp, attention_train.cpp,
// activation_train.cpp, loss_train.cpp; products through the GEMM core (gemm.h). Templates over
// the scalar type, instantiated for float (training) and double (finite-difference reference).
// Semantics are those of the TrainOpsT methods of the same name (train_ops.h).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>

#include "base/thread_pool.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_bf16.h"
#include "engine/train/train_ops.h"

namespace zip::train::cpu {

using zip::cpu::gemm;
using zip::cpu::parallel_for;
using zip::cpu::Strides;

// Row reductions in vector-wide partial sums (GCC vector extensions, one 64-byte vector; the
// compiler will not reorder a plain floating-point reduction). Fixed order: deterministic.
template <typename T>
struct Vec64 {
  static constexpr int L = 64 / int(sizeof(T));
  typedef T V __attribute__((vector_size(64)));
};
#define ZIP_VLOAD(v, p) __builtin_memcpy(&(v), (p), sizeof(v))

template <typename T>
inline T dot(const T* a, const T* b, int n) {
  using W = Vec64<T>;
  typename W::V acc0 = {}, acc1 = {}, x0, y0, x1, y1;
  int j = 0;
  for (; j + 2 * W::L <= n; j += 2 * W::L) {
    ZIP_VLOAD(x0, a + j), ZIP_VLOAD(y0, b + j), ZIP_VLOAD(x1, a + j + W::L), ZIP_VLOAD(y1, b + j + W::L);
    acc0 += x0 * y0;
    acc1 += x1 * y1;
  }
  acc0 += acc1;
  T s = T(0);
  for (int i = 0; i < W::L; i++) s += acc0[i];
  for (; j < n; j++) s += a[j] * b[j];
  return s;
}

template <typename T>
inline T row_sum(const T* a, int n) {
  using W = Vec64<T>;
  typename W::V acc0 = {}, acc1 = {}, x0, x1;
  int j = 0;
  for (; j + 2 * W::L <= n; j += 2 * W::L) {
    ZIP_VLOAD(x0, a + j), ZIP_VLOAD(x1, a + j + W::L);
    acc0 += x0;
    acc1 += x1;
  }
  acc0 += acc1;
  T s = T(0);
  for (int i = 0; i < W::L; i++) s += acc0[i];
  for (; j < n; j++) s += a[j];
  return s;
}

template <typename T>
inline T row_max(const T* a, int n) {  // n >= 1
  using W = Vec64<T>;
  T m = a[0];
  int j = 0;
  if (n >= W::L) {
    typename W::V acc, x;
    ZIP_VLOAD(acc, a);
    for (j = W::L; j + W::L <= n; j += W::L) {
      ZIP_VLOAD(x, a + j);
      acc = acc > x ? acc : x;
    }
    for (int i = 0; i < W::L; i++) m = std::max(m, acc[i]);
  }
  for (; j < n; j++) m = std::max(m, a[j]);
  return m;
}
#undef ZIP_VLOAD

// y[i] = e^x[i] (y may equal x). float: the inference kernels' vectorised polynomial (≈2 ulp);
// double: libm. In activation_train.cpp.
void exp_array(float* y, const float* x, size_t n);
void exp_array(double* y, const double* x, size_t n);

// e[i] = exp(z[i]·inv_tau - shift) for a row, shift = max·inv_tau, so softmax = e/sum and
// log-sum-exp = shift + log(sum). Vectorised (exp_array, row_max, row_sum).
// (loss_train.cpp, vocab_loss_train.cpp)
struct ExpRow {
  double shift, sum;
  double lse() const { return shift + std::log(sum); }
};
template <typename T>
inline ExpRow exp_row(T* e, const T* z, int V, double inv_tau) {
  T shift = T(double(row_max(z, V)) * inv_tau), it = T(inv_tau);
  for (int i = 0; i < V; i++) e[i] = z[i] * it - shift;
  exp_array(e, e, size_t(V));
  return {double(shift), double(row_sum(e, V))};
}

// linear_train.cpp (the products themselves go through the GEMM core, gemm.h)
template <typename T>
void linear_fwd(ThreadPool& pool, T* y, const T* x, const T* W, const T* b, int M, int K, int N);
template <typename T>
void linear_bwd(ThreadPool& pool, T* dx, T* dW, T* db, const T* dy, const T* x, const T* W, int M, int K, int N);
// The same at bf16 (gemm_bf16.h): the forward with W packed beforehand (Wt_packed = Wᵀ [K, N]).
void linear_fwd_bf16(ThreadPool& pool, float* y, const float* x, const zip::cpu::PackedB& Wt_packed, const float* b,
                     int M);
void linear_bwd_bf16(ThreadPool& pool, float* dx, float* dW, float* db, const float* dy, const float* x,
                     const float* W, int M, int K, int N);
template <typename T>
void bias_fwd(ThreadPool& pool, T* y, const T* b, int M, int N);
template <typename T>
void bias_bwd(ThreadPool& pool, T* db, const T* dy, int M, int N);

// norm_train.cpp
template <typename T>
void layernorm_fwd(ThreadPool& pool, T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, int M, int D,
                   float eps);
template <typename T>
void layernorm_bwd(ThreadPool& pool, T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const T* mean,
                   const T* rstd, int M, int D);
template <typename T>
void rmsnorm_fwd(ThreadPool& pool, T* y, T* rstd, const T* x, const T* w, int M, int D, float eps);
template <typename T>
void rmsnorm_bwd(ThreadPool& pool, T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int M, int D);

// attention_train.cpp
template <typename T>
void rope_apply(ThreadPool& pool, T* x, const int* pos, int M, int n_heads, int head_dim, float theta, bool inverse);
template <typename T>
void attention_fwd(ThreadPool& pool, T* out, T* lse, const T* q, const T* k, const T* v, const AttnDims& a);
template <typename T>
void attention_bwd(ThreadPool& pool, T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                   const T* out, const T* lse, const AttnDims& a);

// activation_train.cpp
template <typename T>
void gelu_fwd(ThreadPool& pool, T* y, const T* x, size_t n, GeluKind kind);
template <typename T>
void gelu_bwd(ThreadPool& pool, T* dx, const T* dy, const T* x, size_t n, GeluKind kind);
template <typename T>
void swiglu_fwd(ThreadPool& pool, T* y, const T* gate, const T* up, size_t n);
template <typename T>
void swiglu_bwd(ThreadPool& pool, T* dgate, T* dup, const T* dy, const T* gate, const T* up, size_t n);
template <typename T>
void tanh_fwd(ThreadPool& pool, T* y, const T* x, size_t n);
template <typename T>
void tanh_bwd(ThreadPool& pool, T* dx, const T* dy, const T* y, size_t n);
template <typename T>
void embedding_fwd(ThreadPool& pool, T* y, const T* table, const int* ids, int M, int D, bool accumulate);
template <typename T>
void embedding_bwd(ThreadPool& pool, T* dtable, const T* dy, const int* ids, int M, int D);

// loss_train.cpp
template <typename T>
void cross_entropy_fwd(ThreadPool& pool, T* loss, const T* logits, const int* targets, int M, int V);
template <typename T>
void cross_entropy_bwd(ThreadPool& pool, T* dlogits, const T* logits, const int* targets, int M, int V, double dloss);
template <typename T>
void kl_div_fwd(ThreadPool& pool, T* loss, const T* student, const T* teacher, const int* mask, int M, int V,
                float tau);
template <typename T>
void kl_div_bwd(ThreadPool& pool, T* dstudent, const T* student, const T* teacher, const int* mask, int M, int V,
                float tau, double dloss);
// vocab_loss_train.cpp
template <typename T>
void vocab_loss(ThreadPool& pool, const VocabLoss<T>& a);
// The same with every product at bf16: W and Wt come packed as Wᵀ [D, V] (Wt_packed nullptr
// when there is no teacher).
void vocab_loss_bf16(ThreadPool& pool, const VocabLoss<float>& a, const zip::cpu::PackedB& W_packed,
                     const zip::cpu::PackedB* Wt_packed);
template <typename T>
void cosine_loss_fwd(ThreadPool& pool, T* loss, const T* a, const T* b, const int* mask, int M, int D);
template <typename T>
void cosine_loss_bwd(ThreadPool& pool, T* da, const T* a, const T* b, const int* mask, int M, int D, double dloss);
template <typename T>
void mse_loss_fwd(ThreadPool& pool, T* loss, const T* a, const T* b, const int* mask, int M, int D);
template <typename T>
void mse_loss_bwd(ThreadPool& pool, T* da, const T* a, const T* b, const int* mask, int M, int D, double dloss);

}  // namespace zip::train::cpu

// The CPU matrix products, one file family:
// - gemm.cpp: the GEMM core, C (+)= A·B over strided operands in float or double, packed panels,
//   deterministic (each element sums K in order). Training (linear layers, attention) and the
//   pruning solvers' f64 update go through it.
// - gemm_matmul.cpp: the inference product y = x·Wᵀ with f32 activations and f32/f16/bf16 weights
//   widened in registers, with a decode (M = 1) path. It stays a separate kernel: it reads W in
//   its stored dtype without a packed f32 copy (decode is bound by streaming W once), and it
//   vectorises along K, so its rounding differs from the core's; the compress pipeline's
//   calibration is pinned bit-exactly to these results (tests/test_compress_pin.cpp).
#pragma once
#include <algorithm>
#include <cstddef>

#include "base/thread_pool.h"
#include "engine/tensor.h"

namespace zip::cpu {

// Runs fn(begin, end) over [0, n) split across the pool; small jobs (n·cost_per_item below a
// threshold) stay on the calling thread, where waking workers would cost more than the work.
template <typename Fn>
void parallel_for(ThreadPool& pool, size_t n, double cost_per_item, Fn&& fn) {
  if (pool.size() == 1 || double(n) * cost_per_item < 32768.0 || n < 2) {
    if (n) fn(size_t(0), n);
    return;
  }
  pool.run([&](int t, int nt) {
    size_t b, e;
    ThreadPool::split(n, t, nt, &b, &e);
    if (b < e) fn(b, e);
  });
}

// Element (i, j) of an operand lives at p[i·rs + j·cs].
struct Strides {
  size_t rs, cs;
};

// C (+)= A·B (+ bias[N] when not accumulating), C[M,N] with row stride ldc; A(i,k) at
// A[i·a.rs + k·a.cs], B(k,j) at B[k·b.rs + j·b.cs], so transposed operands need no copies.
// pool nullptr: on the calling thread (inside another parallel task). T is float or double.
template <typename T>
void gemm(ThreadPool* pool, T* C, size_t ldc, const T* A, Strides a, const T* B, Strides b, int M, int N, int K,
          bool accumulate, const T* bias);

// Inference: y[M,N] = x[M,K] · W[N,K]ᵀ (+ bias), W f32/f16/bf16 (gemm_matmul.cpp).
void matmul(ThreadPool& pool, float* y, const float* x, const Tensor& W, const float* bias, int M);

}  // namespace zip::cpu

// The CPU fast kernels (SIMD, threaded through the pool). Semantics are those of the Backend
// interface in engine/backend.h; the reference backend defines the expected results.
#pragma once
#include "engine/backend.h"
#include "base/thread_pool.h"
#include "kernels/cpu/gemm.h"  // matmul

namespace zip::cpu {

void rmsnorm(float* y, const float* x, const float* w, int M, int D, float eps);
void layernorm(float* y, const float* x, const float* w, const float* b, int M, int D, float eps);
void rope(float* x, int M, int n_heads, int head_dim, const int* pos, float theta);
void attention(ThreadPool& pool, float* out, const float* q, const float* k_cache, const float* v_cache,
               const AttentionArgs& a);
void swiglu(float* y, const float* gate, const float* up, size_t n);
void gelu(float* y, const float* x, size_t n, GeluKind kind);
void softmax(float* x, int M, int N);
void softmax_row(float* x, int n);

// Work below this many multiply-adds runs on the calling thread: waking workers costs more.
constexpr double kParallelMinFlops = 48 * 1024;

}  // namespace zip::cpu

// Launchers of the CUDA backend's kernels. Every pointer is device memory (index arrays included:
// the backend uploads them). Shapes are validated by the caller (cuda_backend.cu); launchers only
// pick grid sizes, launch on `stream` and check the launch.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>

#include "engine/backend.h"
#include "engine/dtype.h"

namespace zip::cuda {

// ---- norms (norm_kernels.cu) -------------------------------------------------------------------
void rmsnorm(cudaStream_t s, float* y, const float* x, const float* w, int M, int D, float eps);
void layernorm(cudaStream_t s, float* y, const float* x, const float* w, const float* b, int M, int D, float eps);

// ---- rotary embedding (rope_kernel.cu) ---------------------------------------------------------
// pos: device [M], or nullptr for consecutive positions pos0, pos0+1, ...
void rope(cudaStream_t s, float* x, int M, int n_heads, int head_dim, const int* pos, int pos0, float theta);

// ---- attention (attention_kernels.cu) ----------------------------------------------------------
// a.kv_of_q must point to device memory. `scratch` holds scores when the kernel needs them
// (attention_scratch_floats(a) floats; may be nullptr when that is 0).
size_t attention_scratch_floats(const AttentionArgs& a);
void attention(cudaStream_t s, float* out, const float* q, const float* k_cache, const float* v_cache,
               const AttentionArgs& a, float* scratch);

// ---- elementwise (elementwise_kernels.cu) ------------------------------------------------------
void kv_store(cudaStream_t s, float* cache, const float* x, int M, int n_kv, int head_dim, int pos0, int cache_len);
void swiglu(cudaStream_t s, float* y, const float* gate, const float* up, size_t n);
void gelu(cudaStream_t s, float* y, const float* x, size_t n, GeluKind kind);
void softmax(cudaStream_t s, float* x, int M, int N);
// y[m,:] = table[ids[m],:] as f32; table [rows, D] of dtype F32, F16 or BF16.
void embedding(cudaStream_t s, float* y, const void* table, DType dtype, int D, const int* ids, int M);
void add(cudaStream_t s, float* y, const float* x, size_t n);
void add_rows(cudaStream_t s, float* y, const float* b, int M, int D);
void tanh(cudaStream_t s, float* x, size_t n);
// dst[i] = src[i] rounded to nearest even in `to` (F16 or BF16).
void convert_from_f32(cudaStream_t s, void* dst, DType to, const float* src, size_t n);

// ---- GEMM (gemm_cublaslt.cu) -------------------------------------------------------------------
// y[M,N] = x[M,K]·W[N,K]ᵀ (+ bias[N]) through cuBLASLt, f32 accumulation:
// - f32 W: f32 inputs, CUBLAS_COMPUTE_32F (true f32 multiply-adds), or TF32 tensor cores
//   when tf32 is set;
// - f16/bf16 W: x is rounded to W's type in a scratch buffer (weights stay as stored, half the
//   memory and tensor-core speed; rounding x costs ~2^-9 relative for bf16, 2^-12 for f16),
//   output and bias in f32.
// Falls back to a simple tiled kernel when cuBLASLt has no algorithm for a shape.
class Gemm {
 public:
  Gemm(cudaStream_t stream, bool tf32);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;
  void run(float* y, const float* x, const void* W, DType wtype, int M, int N, int K, const float* bias);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace zip::cuda

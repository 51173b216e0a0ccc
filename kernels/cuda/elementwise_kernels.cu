// Elementwise ops, softmax, embedding lookup, KV-cache stores and dtype conversion.
// Grid-stride loops over size_t indices: any n works with a capped grid.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/reduce.cuh"

namespace zip::cuda {
namespace {

constexpr int kThreads = 256;

#define ZIP_GRID_STRIDE(i, n) \
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += size_t(gridDim.x) * blockDim.x)

// cache[(h·head_dim + i)·cache_len + pos0 + m] = x[m, h·head_dim + i]
__global__ void kv_store_kernel(float* cache, const float* x, size_t n, size_t row, int pos0, int cache_len) {
  ZIP_GRID_STRIDE(idx, n) {
    const size_t m = idx / row, r = idx % row;
    cache[r * size_t(cache_len) + size_t(pos0) + m] = x[idx];
  }
}

__global__ void swiglu_kernel(float* y, const float* gate, const float* up, size_t n) {
  ZIP_GRID_STRIDE(i, n) {
    const float g = gate[i];
    y[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

// Both forms are exact GELUs rewritten without cancellation for negative x:
// 0.5·x·(1 + erf(x/√2)) = 0.5·x·erfc(-x/√2), and 0.5·x·(1 + tanh(u)) = x / (1 + e^(-2u)).
__global__ void gelu_erf_kernel(float* y, const float* x, size_t n) {
  ZIP_GRID_STRIDE(i, n) {
    const float v = x[i];
    y[i] = 0.5f * v * erfcf(-v * 0.70710678118654752f);
  }
}

__global__ void gelu_tanh_kernel(float* y, const float* x, size_t n) {
  ZIP_GRID_STRIDE(i, n) {
    const float v = x[i];
    const float u = 0.79788456080286536f * (v + 0.044715f * v * v * v);  // √(2/π)·(x + 0.044715x³)
    y[i] = v / (1.0f + expf(-2.0f * u));
  }
}

__global__ void add_kernel(float* y, const float* x, size_t n) {
  ZIP_GRID_STRIDE(i, n) y[i] += x[i];
}

__global__ void add_rows_kernel(float* y, const float* b, size_t n, int D) {
  ZIP_GRID_STRIDE(i, n) y[i] += b[i % size_t(D)];
}

__global__ void tanh_kernel(float* x, size_t n) {
  ZIP_GRID_STRIDE(i, n) x[i] = tanhf(x[i]);
}

// One block per row: max, sum of exponentials, normalise.
__global__ void softmax_kernel(float* x, int N) {
  float* r = x + size_t(blockIdx.x) * N;
  float mx = -INFINITY;
  for (int i = threadIdx.x; i < N; i += blockDim.x) mx = fmaxf(mx, r[i]);
  mx = block_max(mx);
  float sum = 0;
  for (int i = threadIdx.x; i < N; i += blockDim.x) sum += expf(r[i] - mx);
  const float inv = 1.0f / block_sum(sum);
  for (int i = threadIdx.x; i < N; i += blockDim.x) r[i] = expf(r[i] - mx) * inv;
}

__device__ inline float load_f32(const float* p, size_t i) { return p[i]; }
__device__ inline float load_f32(const __half* p, size_t i) { return __half2float(p[i]); }
__device__ inline float load_f32(const __nv_bfloat16* p, size_t i) { return __bfloat162float(p[i]); }

template <typename T>
__global__ void embedding_kernel(float* y, const T* table, int D, const int* ids, size_t n) {
  ZIP_GRID_STRIDE(idx, n) {
    const size_t m = idx / size_t(D), d = idx % size_t(D);
    y[idx] = load_f32(table, size_t(ids[m]) * size_t(D) + d);
  }
}

__global__ void to_bf16_kernel(__nv_bfloat16* dst, const float* src, size_t n) {
  ZIP_GRID_STRIDE(i, n) dst[i] = __float2bfloat16_rn(src[i]);
}

__global__ void to_f16_kernel(__half* dst, const float* src, size_t n) {
  ZIP_GRID_STRIDE(i, n) dst[i] = __float2half_rn(src[i]);
}

}  // namespace

void kv_store(cudaStream_t s, float* cache, const float* x, int M, int n_kv, int head_dim, int pos0, int cache_len) {
  const size_t row = size_t(n_kv) * size_t(head_dim), n = size_t(M) * row;
  if (n == 0) return;
  kv_store_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(cache, x, n, row, pos0, cache_len);
  ZIP_CUDA_LAUNCHED("kv_store_kernel");
}

void swiglu(cudaStream_t s, float* y, const float* gate, const float* up, size_t n) {
  if (n == 0) return;
  swiglu_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(y, gate, up, n);
  ZIP_CUDA_LAUNCHED("swiglu_kernel");
}

void gelu(cudaStream_t s, float* y, const float* x, size_t n, GeluKind kind) {
  if (n == 0) return;
  if (kind == GeluKind::Erf)
    gelu_erf_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(y, x, n);
  else
    gelu_tanh_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(y, x, n);
  ZIP_CUDA_LAUNCHED("gelu_kernel");
}

void softmax(cudaStream_t s, float* x, int M, int N) {
  if (M <= 0 || N <= 0) return;
  softmax_kernel<<<unsigned(M), kThreads, 0, s>>>(x, N);
  ZIP_CUDA_LAUNCHED("softmax_kernel");
}

void embedding(cudaStream_t s, float* y, const void* table, DType dtype, int D, const int* ids, int M) {
  const size_t n = size_t(M) * size_t(D);
  if (n == 0) return;
  const unsigned g = grid_for(n, kThreads);
  switch (dtype) {
    case DType::F32:
      embedding_kernel<<<g, kThreads, 0, s>>>(y, static_cast<const float*>(table), D, ids, n);
      break;
    case DType::F16:
      embedding_kernel<<<g, kThreads, 0, s>>>(y, static_cast<const __half*>(table), D, ids, n);
      break;
    case DType::BF16:
      embedding_kernel<<<g, kThreads, 0, s>>>(y, static_cast<const __nv_bfloat16*>(table), D, ids, n);
      break;
    default:
      throw_error(std::string("embedding: table dtype ") + dtype_name(dtype) + " is not a float type");
  }
  ZIP_CUDA_LAUNCHED("embedding_kernel");
}

void add(cudaStream_t s, float* y, const float* x, size_t n) {
  if (n == 0) return;
  add_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(y, x, n);
  ZIP_CUDA_LAUNCHED("add_kernel");
}

void add_rows(cudaStream_t s, float* y, const float* b, int M, int D) {
  const size_t n = size_t(M) * size_t(D);
  if (n == 0) return;
  add_rows_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(y, b, n, D);
  ZIP_CUDA_LAUNCHED("add_rows_kernel");
}

void tanh(cudaStream_t s, float* x, size_t n) {
  if (n == 0) return;
  tanh_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(x, n);
  ZIP_CUDA_LAUNCHED("tanh_kernel");
}

void convert_from_f32(cudaStream_t s, void* dst, DType to, const float* src, size_t n) {
  if (n == 0) return;
  if (to == DType::BF16)
    to_bf16_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(static_cast<__nv_bfloat16*>(dst), src, n);
  else if (to == DType::F16)
    to_f16_kernel<<<grid_for(n, kThreads), kThreads, 0, s>>>(static_cast<__half*>(dst), src, n);
  else
    throw_error(std::string("convert_from_f32: unsupported target dtype ") + dtype_name(to));
  ZIP_CUDA_LAUNCHED("convert_from_f32");
}

}  // namespace zip::cuda

// RMSNorm and LayerNorm: one block per row, f32 block reductions. In place (y == x) is allowed:
// every thread writes only the elements it read, after the reductions have consumed all of x.
#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/reduce.cuh"

namespace zip::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void rmsnorm_kernel(float* y, const float* x, const float* w, int D, float eps) {
  const size_t row = size_t(blockIdx.x) * D;
  float ss = 0;
  for (int i = threadIdx.x; i < D; i += blockDim.x) ss += x[row + i] * x[row + i];
  ss = block_sum(ss);
  const float inv = 1.0f / sqrtf(ss / float(D) + eps);
  for (int i = threadIdx.x; i < D; i += blockDim.x) y[row + i] = x[row + i] * inv * w[i];
}

// Two passes (mean, then the variance around it): no cancellation for rows with a large mean.
__global__ void layernorm_kernel(float* y, const float* x, const float* w, const float* b, int D, float eps) {
  const size_t row = size_t(blockIdx.x) * D;
  float s = 0;
  for (int i = threadIdx.x; i < D; i += blockDim.x) s += x[row + i];
  const float mean = block_sum(s) / float(D);
  float v = 0;
  for (int i = threadIdx.x; i < D; i += blockDim.x) {
    float d = x[row + i] - mean;
    v += d * d;
  }
  const float inv = 1.0f / sqrtf(block_sum(v) / float(D) + eps);
  for (int i = threadIdx.x; i < D; i += blockDim.x)
    y[row + i] = (x[row + i] - mean) * inv * w[i] + (b ? b[i] : 0.0f);
}

}  // namespace

void rmsnorm(cudaStream_t s, float* y, const float* x, const float* w, int M, int D, float eps) {
  if (M <= 0 || D <= 0) return;
  rmsnorm_kernel<<<unsigned(M), kThreads, 0, s>>>(y, x, w, D, eps);
  ZIP_CUDA_LAUNCHED("rmsnorm_kernel");
}

void layernorm(cudaStream_t s, float* y, const float* x, const float* w, const float* b, int M, int D, float eps) {
  if (M <= 0 || D <= 0) return;
  layernorm_kernel<<<unsigned(M), kThreads, 0, s>>>(y, x, w, b, D, eps);
  ZIP_CUDA_LAUNCHED("layernorm_kernel");
}

}  // namespace zip::cuda

// Rotary embedding on adjacent pairs (x[2j], x[2j+1]), in place, one thread per pair.
// Angles are computed in double like the reference: pos·θ^(-2j/d) reaches thousands of radians,
// where an f32 angle alone would be off by ~1e-4.
#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"

namespace zip::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void rope_kernel(float* x, size_t n_pairs, int n_heads, int head_dim, const int* pos, int pos0,
                            double theta) {
  const int half = head_dim / 2;
  for (size_t idx = size_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < n_pairs; idx += size_t(gridDim.x) * blockDim.x) {
    const int j = int(idx % half);
    const size_t vec = idx / half;  // m·n_heads + head
    const size_t m = vec / size_t(n_heads);
    const double p = pos ? double(pos[m]) : double(pos0) + double(m);
    const int i = 2 * j;
    const double ang = p * pow(theta, -double(i) / double(head_dim));
    double sn, cs;
    sincos(ang, &sn, &cs);
    float* v = x + vec * size_t(head_dim) + i;
    const double a = v[0], b = v[1];
    v[0] = float(a * cs - b * sn);
    v[1] = float(a * sn + b * cs);
  }
}

}  // namespace

void rope(cudaStream_t s, float* x, int M, int n_heads, int head_dim, const int* pos, int pos0, float theta) {
  const size_t n_pairs = size_t(M) * size_t(n_heads) * size_t(head_dim / 2);
  if (n_pairs == 0) return;
  rope_kernel<<<grid_for(n_pairs, kThreads), kThreads, 0, s>>>(x, n_pairs, n_heads, head_dim, pos, pos0,
                                                                double(theta));
  ZIP_CUDA_LAUNCHED("rope_kernel");
}

}  // namespace zip::cuda

// Device-side reductions shared by the kernels: warp shuffles and a block-wide reduction.
// Every block that calls block_reduce must have a multiple of 32 threads, all of them calling it.
#pragma once
#include <cuda_runtime.h>

#include <cmath>

namespace zip::cuda {

constexpr unsigned kFullMask = 0xffffffffu;

struct SumOp {
  __device__ float operator()(float a, float b) const { return a + b; }
};
struct MaxOp {
  __device__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

template <typename Op>
__device__ inline float warp_reduce(float v, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(kFullMask, v, o));
  return v;
}

// The reduction of v over the whole block, returned to every thread.
template <typename Op>
__device__ inline float block_reduce(float v, Op op, float identity) {
  __shared__ float partial[33];  // one per warp, [32] = the result
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = (blockDim.x + 31) >> 5;
  v = warp_reduce(v, op);
  __syncthreads();  // a previous call may still be reading partial[32]
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float r = lane < n_warps ? partial[lane] : identity;
    r = warp_reduce(r, op);
    if (lane == 0) partial[32] = r;
  }
  __syncthreads();
  return partial[32];
}

__device__ inline float block_sum(float v) { return block_reduce(v, SumOp(), 0.0f); }
__device__ inline float block_max(float v) { return block_reduce(v, MaxOp(), -INFINITY); }

}  // namespace zip::cuda

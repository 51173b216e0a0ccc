// Attention over the KV cache, layout [n_kv][head_dim][cache_len] (positions contiguous).
// Query row m (absolute position pos0+m) of head h reads KV head kv_of_q[h] and sees positions
// 0 .. limit-1, limit = pos0+m+1 (causal) or pos0+n_tokens (bidirectional).
//
// Two kernels, both f32 throughout:
// - scores_kernel (decode, n_tokens = 1, and any head_dim): one block per (row, head), three
//   passes over a global score buffer: scores and max, exponentials and sum, then P·V with one
//   warp per output channel. Simple, and coalesced because positions are contiguous.
// - flash_kernel (prefill, n_tokens > 1, head_dim ≤ 256): one warp per query row, a block of
//   kRows rows of one head; K and V tiles of kTile positions are staged in shared memory and
//   shared by the block's rows; online softmax (running max m, running sum l, output rescaled
//   by e^(m_old - m_new)), so no score buffer is needed.
#include <cmath>

#include "kernels/cuda/cuda_common.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/reduce.cuh"

namespace zip::cuda {
namespace {

constexpr int kScoreThreads = 256;
constexpr int kTile = 32;          // positions per K/V tile: one per lane
constexpr int kRows = 8;           // query rows (warps) per flash block
constexpr int kMaxChunks = 8;      // flash: head_dim ≤ 32·kMaxChunks channels, kMaxChunks per lane
constexpr int kFlashMaxHeadDim = 32 * kMaxChunks;

__device__ inline int key_limit(int row, int n_tokens, int pos0, bool causal) {
  return causal ? pos0 + row + 1 : pos0 + n_tokens;
}

// grid (n_heads, n_tokens); scores [n_tokens·n_heads][T_max]; dynamic smem: head_dim floats.
__global__ void scores_kernel(float* out, const float* q, const float* kc, const float* vc, const int* kv_of_q,
                              int n_tokens, int pos0, int n_heads, int head_dim, int cache_len, float scale,
                              bool causal, float* scores, int t_max) {
  extern __shared__ float qs[];
  const int h = blockIdx.x, row = blockIdx.y;
  const size_t qrow = (size_t(row) * n_heads + h) * head_dim;
  for (int i = threadIdx.x; i < head_dim; i += blockDim.x) qs[i] = q[qrow + i];
  __syncthreads();

  const size_t C = size_t(cache_len);
  const float* K = kc + size_t(kv_of_q[h]) * head_dim * C;
  const float* V = vc + size_t(kv_of_q[h]) * head_dim * C;
  float* s = scores + (size_t(row) * n_heads + h) * size_t(t_max);
  const int T = key_limit(row, n_tokens, pos0, causal);

  // Pass 1: scores (consecutive threads read consecutive positions of each channel row).
  float mx = -INFINITY;
  for (int t = threadIdx.x; t < T; t += blockDim.x) {
    float d = 0;
    for (int i = 0; i < head_dim; i++) d += qs[i] * K[size_t(i) * C + t];
    d *= scale;
    s[t] = d;
    mx = fmaxf(mx, d);
  }
  mx = block_max(mx);
  // Pass 2: exponentials (each thread rewrites the scores it wrote) and their sum.
  float sum = 0;
  for (int t = threadIdx.x; t < T; t += blockDim.x) {
    const float e = expf(s[t] - mx);
    s[t] = e;
    sum += e;
  }
  sum = block_sum(sum);  // its __syncthreads also publishes s[] to the whole block
  const float inv = 1.0f / sum;
  // Pass 3: out[i] = Σ_t p[t]·V[i][t], one warp per channel, lanes over positions.
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
  for (int i = warp; i < head_dim; i += n_warps) {
    const float* Vi = V + size_t(i) * C;
    float acc = 0;
    for (int t = lane; t < T; t += 32) acc += s[t] * Vi[t];
    acc = warp_reduce(acc, SumOp());
    if (lane == 0) out[qrow + i] = acc * inv;
  }
}

// grid (n_heads, ceil(n_tokens / kRows)), kRows warps per block.
// Dynamic smem: Ks, Vs [head_dim][kTile+1] (padded: conflict-free column reads), Qs [kRows][head_dim].
__global__ void flash_kernel(float* out, const float* q, const float* kc, const float* vc, const int* kv_of_q,
                             int n_tokens, int pos0, int n_heads, int head_dim, int cache_len, float scale,
                             bool causal) {
  extern __shared__ float smem[];
  constexpr int ld = kTile + 1;
  float* Ks = smem;
  float* Vs = Ks + head_dim * ld;
  float* Qs = Vs + head_dim * ld;

  const int h = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int row = blockIdx.y * kRows + warp;
  const bool active = row < n_tokens;  // uniform per warp: inactive warps only help load tiles
  const int limit = active ? key_limit(row, n_tokens, pos0, causal) : 0;
  const int last_row = min(n_tokens, int(blockIdx.y + 1) * kRows) - 1;
  const int T = key_limit(last_row, n_tokens, pos0, causal);  // positions any row of the block sees

  float* qs = Qs + warp * head_dim;
  const size_t qrow = (size_t(active ? row : 0) * n_heads + h) * head_dim;
  for (int i = lane; i < head_dim; i += 32) qs[i] = active ? q[qrow + i] : 0.0f;

  const size_t C = size_t(cache_len);
  const float* K = kc + size_t(kv_of_q[h]) * head_dim * C;
  const float* V = vc + size_t(kv_of_q[h]) * head_dim * C;

  float m = -INFINITY, l = 0;
  float acc[kMaxChunks];
#pragma unroll
  for (int c = 0; c < kMaxChunks; c++) acc[c] = 0;

  for (int t0 = 0; t0 < T; t0 += kTile) {
    __syncthreads();  // the previous tile is consumed (and, the first time, qs is written)
    for (int e = threadIdx.x; e < head_dim * kTile; e += blockDim.x) {
      const int i = e / kTile, j = e % kTile, t = t0 + j;
      Ks[i * ld + j] = t < T ? K[size_t(i) * C + t] : 0.0f;
      Vs[i * ld + j] = t < T ? V[size_t(i) * C + t] : 0.0f;
    }
    __syncthreads();
    if (!active) continue;

    // Lane j scores position t0+j. Tile 0 always holds position 0 < limit, so m is finite after it.
    const int t = t0 + lane;
    float sc = -INFINITY;
    if (t < limit) {
      float d = 0;
      for (int i = 0; i < head_dim; i++) d += qs[i] * Ks[i * ld + lane];
      sc = d * scale;
    }
    const float m_new = fmaxf(m, warp_reduce(sc, MaxOp()));
    const float p = t < limit ? expf(sc - m_new) : 0.0f;
    const float alpha = expf(m - m_new);  // 0 on the first tile (m = -inf)
    l = l * alpha + warp_reduce(p, SumOp());
    m = m_new;
#pragma unroll
    for (int c = 0; c < kMaxChunks; c++) acc[c] *= alpha;
    for (int j = 0; j < kTile; j++) {
      const float pj = __shfl_sync(kFullMask, p, j);
#pragma unroll
      for (int c = 0; c < kMaxChunks; c++) {
        const int i = c * 32 + lane;
        if (i < head_dim) acc[c] += pj * Vs[i * ld + j];
      }
    }
  }

  if (!active) return;
  const float inv = 1.0f / l;
#pragma unroll
  for (int c = 0; c < kMaxChunks; c++) {
    const int i = c * 32 + lane;
    if (i < head_dim) out[qrow + i] = acc[c] * inv;
  }
}

bool use_flash(const AttentionArgs& a) { return a.n_tokens > 1 && a.head_dim <= kFlashMaxHeadDim; }

}  // namespace

size_t attention_scratch_floats(const AttentionArgs& a) {
  if (use_flash(a)) return 0;
  return size_t(a.n_tokens) * size_t(a.n_heads) * size_t(a.pos0 + a.n_tokens);
}

void attention(cudaStream_t s, float* out, const float* q, const float* k_cache, const float* v_cache,
               const AttentionArgs& a, float* scratch) {
  if (a.n_tokens <= 0 || a.n_heads <= 0 || a.head_dim <= 0) return;
  if (!use_flash(a)) {
    const dim3 grid(unsigned(a.n_heads), unsigned(a.n_tokens));
    const size_t smem = size_t(a.head_dim) * sizeof(float);
    if (smem > 48 * 1024)
      ZIP_CUDA_CHECK(cudaFuncSetAttribute(scores_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
    scores_kernel<<<grid, kScoreThreads, smem, s>>>(out, q, k_cache, v_cache, a.kv_of_q, a.n_tokens, a.pos0,
                                                     a.n_heads, a.head_dim, a.cache_len, a.scale, a.causal,
                                                     scratch, a.pos0 + a.n_tokens);
    ZIP_CUDA_LAUNCHED("attention scores_kernel");
    return;
  }
  const dim3 grid(unsigned(a.n_heads), unsigned((a.n_tokens + kRows - 1) / kRows));
  const size_t smem = (2 * size_t(a.head_dim) * (kTile + 1) + size_t(kRows) * a.head_dim) * sizeof(float);
  if (smem > 48 * 1024)
    ZIP_CUDA_CHECK(cudaFuncSetAttribute(flash_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem)));
  flash_kernel<<<grid, kRows * 32, smem, s>>>(out, q, k_cache, v_cache, a.kv_of_q, a.n_tokens, a.pos0, a.n_heads,
                                              a.head_dim, a.cache_len, a.scale, a.causal);
  ZIP_CUDA_LAUNCHED("attention flash_kernel");
}

}  // namespace zip::cuda

// Causal attention over the KV cache. The cache is position-contiguous ([kv][dim][pos], see
// engine/backend.h), so both products vectorise over positions whatever head_dim is:
//   scores[0..T) = Σ_i q[i]·K[i][0..T)      (blocks of positions in registers, channel by channel)
//   out[i]       = Σ_t p[t]·V[i][t]         (dot per channel)
// Query heads read the KV head their group maps to (uneven groups allowed). Threads split the
// (token, head) pairs.
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "base/simd.h"

namespace zip::cpu {

using namespace zip::simd;

// p[0..T) = Σ_i (q_i·scale)·K_i[0..T), channels in order, each position's sum one fma at a time
// (one axpy per channel would give the same bits) — but 4 vectors of positions stay in registers
// across all channels instead of p passing through memory once per channel.
static void scores(float* p, const float* qv, float scale, const float* K, int T, int hd, size_t C) {
  int t = 0;
  for (; t + 4 * W <= T; t += 4 * W) {
    vf a0 = zero(), a1 = zero(), a2 = zero(), a3 = zero();
    for (int i = 0; i < hd; i++) {
      const vf qi = set1(qv[i] * scale);
      const float* k = K + size_t(i) * C + t;
      a0 = fma(qi, load(k), a0), a1 = fma(qi, load(k + W), a1);
      a2 = fma(qi, load(k + 2 * W), a2), a3 = fma(qi, load(k + 3 * W), a3);
    }
    store(p + t, a0), store(p + t + W, a1), store(p + t + 2 * W, a2), store(p + t + 3 * W, a3);
  }
  for (; t < T; t += W) {
    const int n = T - t < W ? T - t : W;
    vf a = zero();
    for (int i = 0; i < hd; i++) a = fma(set1(qv[i] * scale), load_n(K + size_t(i) * C + t, n), a);
    store_n(p + t, a, n);
  }
}

static void attend_one(float* o, const float* qv, const float* K, const float* V, int T, int hd, size_t C,
                       float scale, std::vector<float>& p) {
  p.resize(size_t(T));
  scores(p.data(), qv, scale, K, T, hd, C);
  float sum = exp_shift_sum(p.data(), T, max_of(p.data(), T));
  float inv = 1.0f / sum;
  for (int i = 0; i < hd; i++) o[i] = dot(p.data(), V + size_t(i) * C, T) * inv;
}

void attention(ThreadPool& pool, float* out, const float* q, const float* kc, const float* vc, const AttentionArgs& a) {
  size_t pairs = size_t(a.n_tokens) * a.n_heads, C = size_t(a.cache_len);
  auto work = [&](int t, int nt) {
    thread_local std::vector<float> p;
    size_t b, e;
    ThreadPool::split(pairs, t, nt, &b, &e);
    for (size_t i = b; i < e; i++) {
      int m = int(i / size_t(a.n_heads)), h = int(i % size_t(a.n_heads));
      size_t off = (size_t(m) * a.n_heads + h) * a.head_dim;
      size_t kv = size_t(a.kv_of_q[h]) * a.head_dim * C;
      int T = a.causal ? a.pos0 + m + 1 : a.pos0 + a.n_tokens;
      attend_one(out + off, q + off, kc + kv, vc + kv, T, a.head_dim, C, a.scale, p);
    }
  };
  double flops = double(pairs) * (a.pos0 + a.n_tokens) * a.head_dim * 2;
  if (pool.size() == 1 || flops < kParallelMinFlops || pairs < 2)
    work(0, 1);
  else
    pool.run(work);
}

}  // namespace zip::cpu

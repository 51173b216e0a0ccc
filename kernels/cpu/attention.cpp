// Causal attention over the KV cache: for each (token, query head) the scores against every
// visible cached key, a softmax, and the weighted sum of values. Query heads read the KV head
// their group maps to (uneven groups allowed). Threads split the (token, head) pairs.
#include <cmath>
#include <vector>

#include "kernels/cpu/cpu_kernels.h"
#include "kernels/cpu/simd.h"

namespace zip::cpu {

using namespace zip::simd;

static void attend_one(float* o, const float* qv, const float* K, const float* V, int T, int hd, float scale,
                       std::vector<float>& p) {
  p.resize(size_t(T));
  float mx = -INFINITY;
  for (int t = 0; t < T; t++) {
    p[size_t(t)] = dot(qv, K + size_t(t) * hd, hd) * scale;
    mx = std::max(mx, p[size_t(t)]);
  }
  float sum = 0;
  for (int t = 0; t < T; t++) sum += (p[size_t(t)] = std::exp(p[size_t(t)] - mx));
  float inv = 1.0f / sum;
  for (int i = 0; i < hd; i++) o[i] = 0;
  for (int t = 0; t < T; t++) axpy(o, p[size_t(t)] * inv, V + size_t(t) * hd, hd);
}

void attention(ThreadPool& pool, float* out, const float* q, const float* kc, const float* vc, const AttentionArgs& a) {
  size_t pairs = size_t(a.n_tokens) * a.n_heads;
  auto work = [&](int t, int nt) {
    thread_local std::vector<float> p;
    size_t b, e;
    ThreadPool::split(pairs, t, nt, &b, &e);
    for (size_t i = b; i < e; i++) {
      int m = int(i / size_t(a.n_heads)), h = int(i % size_t(a.n_heads));
      size_t off = (size_t(m) * a.n_heads + h) * a.head_dim;
      size_t kv = size_t(a.kv_of_q[h]) * a.kv_head_stride;
      attend_one(out + off, q + off, kc + kv, vc + kv, a.pos0 + m + 1, a.head_dim, a.scale, p);
    }
  };
  double flops = double(pairs) * (a.pos0 + a.n_tokens) * a.head_dim * 2;
  if (pool.size() == 1 || flops < kParallelMinFlops || pairs < 2)
    work(0, 1);
  else
    pool.run(work);
}

}  // namespace zip::cpu

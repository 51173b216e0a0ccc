// Rotary positions and attention, forward and backward.
//
// Attention saves only each query row's log-sum-exp; the backward recomputes the probabilities
// from q and k (flash-attention style), so saved activations stay O(T) per head instead of
// O(T²). Work is split over (sequence, KV head): the task owns every query head that reads that
// KV head (groups may be uneven), so the K/V gradients it accumulates are private to it. Within
// a task, blocks of query rows go through the GEMM core (gemm.h) (strided operands, no copies):
// S = Q·Kᵀ over the keys the block can see (causal blocks stop at their last row), a masked
// softmax per row, then O = P·V; the backward is five such products.
#include <cmath>
#include <vector>

#include "kernels/cpu/train_kernels.h"

namespace zip::train::cpu {

template <typename T>
void rope_apply(ThreadPool& pool, T* x, const int* pos, int M, int n_heads, int head_dim, float theta, bool inverse) {
  // Angles in double, once per distinct position (positions reach the thousands).
  int half = head_dim / 2, max_pos = 0;
  for (int m = 0; m < M; m++) max_pos = std::max(max_pos, pos[m]);
  std::vector<T> cs(size_t(max_pos + 1) * size_t(half) * 2);
  for (int p = 0; p <= max_pos; p++)
    for (int i = 0; i < half; i++) {
      double ang = double(p) * std::pow(double(theta), -2.0 * i / head_dim);
      cs[(size_t(p) * half + i) * 2] = T(std::cos(ang));
      cs[(size_t(p) * half + i) * 2 + 1] = T(inverse ? -std::sin(ang) : std::sin(ang));
    }
  parallel_for(pool, size_t(M), double(n_heads) * head_dim * 3, [&](size_t m0, size_t m1) {
    for (size_t m = m0; m < m1; m++) {
      const T* c = cs.data() + size_t(pos[m]) * half * 2;
      for (int h = 0; h < n_heads; h++) {
        T* v = x + (m * n_heads + size_t(h)) * head_dim;
        for (int i = 0; i < half; i++) {
          T co = c[2 * i], si = c[2 * i + 1], a = v[2 * i], b = v[2 * i + 1];
          v[2 * i] = a * co - b * si;
          v[2 * i + 1] = a * si + b * co;
        }
      }
    }
  });
}

namespace {

constexpr int kQB = 64;  // query rows per block: a block's scores [kQB, T] stay in cache

// The query heads of each KV head.
std::vector<std::vector<int>> groups_of(const AttnDims& a) {
  std::vector<std::vector<int>> g(size_t(a.n_kv));
  for (int h = 0; h < a.n_heads; h++) g[size_t(a.kv_of_q[h])].push_back(h);
  return g;
}

}  // namespace

template <typename T>
void attention_fwd(ThreadPool& pool, T* out, T* lse, const T* q, const T* k, const T* v, const AttnDims& a) {
  auto groups = groups_of(a);
  const int hd = a.head_dim, T_ = a.T;
  const size_t qs = size_t(a.n_heads) * hd, ks = size_t(a.n_kv) * hd;
  double cost = double(T_) * T_ * hd * 2 * std::max(1, a.n_heads / std::max(1, a.n_kv));
  parallel_for(pool, size_t(a.B) * a.n_kv, cost, [&](size_t t0, size_t t1) {
    thread_local std::vector<T> buf;
    buf.resize(size_t(kQB) * T_);
    T* S = buf.data();  // [kQB, T]: scores, then probabilities
    for (size_t task = t0; task < t1; task++) {
      int b = int(task / size_t(a.n_kv)), g = int(task % size_t(a.n_kv));
      int len = a.lengths ? std::min(a.lengths[b], T_) : T_;
      const T *kb = k + size_t(b) * T_ * ks + size_t(g) * hd, *vb = v + size_t(b) * T_ * ks + size_t(g) * hd;
      for (int h : groups[size_t(g)]) {
        const T* qb = q + size_t(b) * T_ * qs + size_t(h) * hd;
        T* ob = out + size_t(b) * T_ * qs + size_t(h) * hd;
        T* lb = lse + (size_t(b) * a.n_heads + size_t(h)) * T_;
        for (int i0 = 0; i0 < len; i0 += kQB) {
          int nr = std::min(kQB, len - i0), kmax = a.causal ? i0 + nr : len;
          // S = Q·Kᵀ over the keys any row of the block sees.
          gemm(nullptr, S, size_t(T_), qb + size_t(i0) * qs, Strides{qs, 1}, kb, Strides{1, ks}, nr, kmax, hd, false,
               (const T*)nullptr);
          for (int r = 0; r < nr; r++) {
            T* row = S + size_t(r) * T_;
            int n = a.causal ? i0 + r + 1 : len;  // visible keys
            for (int j = 0; j < n; j++) row[j] *= T(a.scale);
            T mx = row_max(row, n);
            for (int j = 0; j < n; j++) row[j] -= mx;
            exp_array(row, row, size_t(n));
            double sum = double(row_sum(row, n));
            T inv = T(1.0 / sum);
            for (int j = 0; j < n; j++) row[j] *= inv;
            for (int j = n; j < kmax; j++) row[j] = T(0);
            lb[i0 + r] = T(double(mx) + std::log(sum));
          }
          // O = P·V
          gemm(nullptr, ob + size_t(i0) * qs, qs, S, Strides{size_t(T_), 1}, vb, Strides{ks, 1}, nr, hd, kmax, false,
               (const T*)nullptr);
        }
        for (int t = len; t < T_; t++) {  // padding rows
          for (int d = 0; d < hd; d++) ob[size_t(t) * qs + size_t(d)] = T(0);
          lb[t] = T(0);
        }
      }
    }
  });
}

template <typename T>
void attention_bwd(ThreadPool& pool, T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                   const T* out, const T* lse, const AttnDims& a) {
  // With P = softmax(S), S = scale·Q·Kᵀ (recomputed from lse):  dV += Pᵀ·dO, dP = dO·Vᵀ,
  // dS = P∘(dP - rowsum(dO∘O))·scale, dQ += dS·K, dK += dSᵀ·Q. The task owns its K/V rows.
  auto groups = groups_of(a);
  const int hd = a.head_dim, T_ = a.T;
  const size_t qs = size_t(a.n_heads) * hd, ks = size_t(a.n_kv) * hd;
  double cost = double(T_) * T_ * hd * 6 * std::max(1, a.n_heads / std::max(1, a.n_kv));
  parallel_for(pool, size_t(a.B) * a.n_kv, cost, [&](size_t t0, size_t t1) {
    thread_local std::vector<T> buf;
    buf.resize(2 * size_t(kQB) * T_);
    T *P = buf.data(), *dS = P + size_t(kQB) * T_;  // [kQB, T] each
    const Strides blk{size_t(T_), 1}, blk_t{1, size_t(T_)};
    for (size_t task = t0; task < t1; task++) {
      int b = int(task / size_t(a.n_kv)), g = int(task % size_t(a.n_kv));
      int len = a.lengths ? std::min(a.lengths[b], T_) : T_;
      size_t kvo = size_t(b) * T_ * ks + size_t(g) * hd;
      const T *kb = k + kvo, *vb = v + kvo;
      for (int h : groups[size_t(g)]) {
        size_t qo = size_t(b) * T_ * qs + size_t(h) * hd;
        const T *qb = q + qo, *dob = dout + qo, *ob = out + qo;
        const T* lb = lse + (size_t(b) * a.n_heads + size_t(h)) * T_;
        for (int i0 = 0; i0 < len; i0 += kQB) {
          int nr = std::min(kQB, len - i0), kmax = a.causal ? i0 + nr : len;
          size_t ro = size_t(i0) * qs;
          gemm(nullptr, P, size_t(T_), qb + ro, Strides{qs, 1}, kb, Strides{1, ks}, nr, kmax, hd, false,
               (const T*)nullptr);
          gemm(nullptr, dS, size_t(T_), dob + ro, Strides{qs, 1}, vb, Strides{1, ks}, nr, kmax, hd, false,
               (const T*)nullptr);  // dP
          for (int r = 0; r < nr; r++) {
            T *prow = P + size_t(r) * T_, *drow = dS + size_t(r) * T_;
            int n = a.causal ? i0 + r + 1 : len;
            T l = lb[i0 + r], sc = T(a.scale);
            for (int j = 0; j < n; j++) prow[j] = prow[j] * sc - l;
            exp_array(prow, prow, size_t(n));
            for (int j = n; j < kmax; j++) prow[j] = T(0);
            T D = dot(dob + ro + size_t(r) * qs, ob + ro + size_t(r) * qs, hd);
            for (int j = 0; j < kmax; j++) drow[j] = prow[j] * (drow[j] - D) * sc;
          }
          const T* none = nullptr;
          if (dq) gemm(nullptr, dq + qo + ro, qs, dS, blk, kb, Strides{ks, 1}, nr, hd, kmax, true, none);
          if (dk) gemm(nullptr, dk + kvo, ks, dS, blk_t, qb + ro, Strides{qs, 1}, kmax, hd, nr, true, none);
          if (dv) gemm(nullptr, dv + kvo, ks, P, blk_t, dob + ro, Strides{qs, 1}, kmax, hd, nr, true, none);
        }
      }
    }
  });
}

#define ZIP_INSTANTIATE(T)                                                                                     \
  template void rope_apply<T>(ThreadPool&, T*, const int*, int, int, int, float, bool);                        \
  template void attention_fwd<T>(ThreadPool&, T*, T*, const T*, const T*, const T*, const AttnDims&);          \
  template void attention_bwd<T>(ThreadPool&, T*, T*, T*, const T*, const T*, const T*, const T*, const T*,    \
                                 const T*, const AttnDims&);
ZIP_INSTANTIATE(float)
ZIP_INSTANTIATE(double)
#undef ZIP_INSTANTIATE

}  // namespace zip::train::cpu

// The LM head fused with the distillation KL and the cross-entropy (VocabLoss, train_ops.h).
// Rows go in blocks: for each block the student and teacher logits [rows, V] come from the GEMM
// core, each row's losses and logit gradient are computed in place, and the gradient leaves
// through two more products (dh = dz·W, dW += dzᵀ·h). Memory is O(block_rows × V) instead of the
// [M, V] logits, logit gradients and teacher copy of the unfused path. Deterministic for a fixed
// thread count: dW sums the blocks in order, each block's rows in order.
#include <vector>

#include "engine/error.h"
#include "kernels/cpu/train_kernels.h"

namespace zip::train::cpu {
namespace {

template <typename T>
struct RowBufs {  // per-thread rows of exponentials: student at τ, teacher at τ, student at 1
  std::vector<T> es, et, e1;
  void fit(int V) {
    for (auto* b : {&es, &et, &e1})
      if (b->size() < size_t(V)) b->resize(size_t(V));
  }
};

// One row: the KL and CE values, then (grad) the logit gradient written over zs.
template <typename T>
void row_loss(const VocabLoss<T>& a, size_t m, T* zs, const T* zt, bool grad) {
  const int V = a.V;
  thread_local RowBufs<T> rb;
  rb.fit(V);
  T *es = rb.es.data(), *et = rb.et.data(), *e1 = rb.e1.data();
  const double inv = 1.0 / a.tau;
  const bool kl = zt && (!a.mask || a.mask[m] != 0);
  const int t = a.targets ? a.targets[m] : -1;
  ExpRow rs{0, 1}, rt{0, 1}, r1{0, 1};
  if (kl) {
    rs = exp_row(es, zs, V, inv), rt = exp_row(et, zt, V, inv);
    double lse_s = rs.lse(), lse_t = rt.lse(), s = 0;
    for (int i = 0; i < V; i++)
      s += double(et[i]) / rt.sum * ((double(zt[i]) * inv - lse_t) - (double(zs[i]) * inv - lse_s));
    if (a.kl) a.kl[m] = T(double(a.tau) * a.tau * s);
  } else if (a.kl) {
    a.kl[m] = T(0);
  }
  const bool shared = kl && a.tau == 1.0f;  // softmax(z/τ) is softmax(z): one exp pass
  if (t >= 0) {
    r1 = shared ? rs : exp_row(e1, zs, V, 1.0);
    if (shared) e1 = es;
    if (a.ce) a.ce[m] = T(r1.lse() - double(zs[t]));
  } else if (a.ce) {
    a.ce[m] = T(0);
  }
  if (!grad) return;
  // d(τ²·KL)/dz = τ·(p_s - p_t); d(CE)/dz = softmax(z) - onehot(t).
  T cs = kl ? T(a.dkl * a.tau / rs.sum) : T(0), ct = kl ? T(a.dkl * a.tau / rt.sum) : T(0);
  T c1 = t >= 0 ? T(a.dce / r1.sum) : T(0);
  if (!kl) es = et = e1;  // (their coefficients are 0 then)
  if (t < 0) e1 = es, c1 = T(0);
  if (!kl && t < 0) {
    for (int i = 0; i < V; i++) zs[i] = T(0);
    return;
  }
  for (int i = 0; i < V; i++) zs[i] = cs * es[i] - ct * et[i] + c1 * e1[i];
  if (t >= 0) zs[t] -= T(a.dce);
}

// dst[j, i] = src[i, j] for src [n, V]: the logit gradient as the A operand of dW += dzᵀ·h
// with unit stride along the output rows.
template <typename T>
void transpose(ThreadPool& pool, T* dst, const T* src, int n, int V) {
  constexpr size_t kCols = 64;
  size_t blocks = (size_t(V) + kCols - 1) / kCols;
  parallel_for(pool, blocks, double(n) * kCols, [&](size_t b0, size_t b1) {
    for (size_t j0 = b0 * kCols; j0 < std::min(size_t(V), b1 * kCols); j0 += kCols)
      for (int i = 0; i < n; i++)
        for (size_t j = j0; j < std::min(size_t(V), j0 + kCols); j++) dst[j * size_t(n) + size_t(i)] = src[size_t(i) * V + j];
  });
}

// The block loop over rows, its four products supplied by P (f32 core or bf16).
template <typename T, typename P>
void vocab_blocks(ThreadPool& pool, const VocabLoss<T>& a, const P& products) {
  const int M = a.M, D = a.D, V = a.V, R = std::max(1, std::min(a.block_rows, M));
  if (M <= 0) return;
  const bool grad = a.dh || a.dW;
  const size_t blk = size_t(R) * size_t(V);
  // Kept between calls (one per step): no fresh pages to fault in and zero every step.
  thread_local std::vector<T> zs_buf, zt_buf;
  if (zs_buf.size() < blk) zs_buf.resize(blk);
  if ((a.ht || grad) && zt_buf.size() < blk) zt_buf.resize(blk);
  T *zs = zs_buf.data(), *zt = zt_buf.data();
  for (int r0 = 0; r0 < M; r0 += R) {
    const int n = std::min(R, M - r0);
    const T* h = a.h + size_t(r0) * D;
    products.logits(zs, h, zt, a.ht ? a.ht + size_t(r0) * a.Dt : nullptr, n);
    VocabLoss<T> rows = a;  // row outputs and targets shifted to the block
    if (a.kl) rows.kl = a.kl + r0;
    if (a.ce) rows.ce = a.ce + r0;
    if (a.targets) rows.targets = a.targets + r0;
    if (a.mask) rows.mask = a.mask + r0;
    parallel_for(pool, size_t(n), double(V) * 24, [&](size_t i0, size_t i1) {
      for (size_t i = i0; i < i1; i++)
        row_loss(rows, i, zs + i * size_t(V), a.ht ? zt + i * size_t(V) : nullptr, grad);
    });
    if (grad) products.backward(a.dh ? a.dh + size_t(r0) * D : nullptr, zs, zt, h, n);
  }
}

// f32 (and the f64 reference): the GEMM core.
template <typename T>
struct CoreProducts {
  ThreadPool& pool;
  const VocabLoss<T>& a;
  // zs[n, V] = h·Wᵀ, where Wᵀ(k, v) = W[v·D + k]; the same for the teacher into zt.
  void logits(T* zs, const T* h, T* zt, const T* ht, int n) const {
    const T* none = nullptr;
    gemm(&pool, zs, size_t(a.V), h, Strides{size_t(a.D), 1}, a.W, Strides{1, size_t(a.D)}, n, a.V, a.D, false, none);
    if (ht)
      gemm(&pool, zt, size_t(a.V), ht, Strides{size_t(a.Dt), 1}, a.Wt, Strides{1, size_t(a.Dt)}, n, a.V, a.Dt, false,
           none);
  }
  // dh[n, D] += dz[n, V]·W[V, D]; dW[V, D] += dzᵀ·h (dzᵀ reuses the teacher block).
  void backward(T* dh, const T* dz, T* zt, const T* h, int n) const {
    const T* none = nullptr;
    const int D = a.D, V = a.V;
    if (dh) gemm(&pool, dh, size_t(D), dz, Strides{size_t(V), 1}, a.W, Strides{size_t(D), 1}, n, D, V, true, none);
    if (a.dW) {
      transpose(pool, zt, dz, n, V);
      gemm(&pool, a.dW, size_t(D), zt, Strides{size_t(n), 1}, h, Strides{size_t(D), 1}, V, D, n, true, none);
    }
  }
};

// bf16: the heads come packed; dW reads dzᵀ by strides (the bf16 packing transposes it anyway).
struct Bf16Products {
  ThreadPool& pool;
  const VocabLoss<float>& a;
  const zip::cpu::PackedB& W;
  const zip::cpu::PackedB* Wt;
  void logits(float* zs, const float* h, float* zt, const float* ht, int n) const {
    zip::cpu::gemm_bf16(&pool, zs, size_t(a.V), h, Strides{size_t(a.D), 1}, W, n, false, nullptr);
    if (ht) zip::cpu::gemm_bf16(&pool, zt, size_t(a.V), ht, Strides{size_t(a.Dt), 1}, *Wt, n, false, nullptr);
  }
  void backward(float* dh, const float* dz, float*, const float* h, int n) const {
    const float* none = nullptr;
    const int D = a.D, V = a.V;
    if (dh)
      zip::cpu::gemm_bf16(&pool, dh, size_t(D), dz, Strides{size_t(V), 1}, a.W, Strides{size_t(D), 1}, n, D, V, true,
                          none);
    if (a.dW)
      zip::cpu::gemm_bf16(&pool, a.dW, size_t(D), dz, Strides{1, size_t(V)}, h, Strides{size_t(D), 1}, V, D, n, true,
                          none);
  }
};

}  // namespace

template <typename T>
void vocab_loss(ThreadPool& pool, const VocabLoss<T>& a) {
  vocab_blocks(pool, a, CoreProducts<T>{pool, a});
}

void vocab_loss_bf16(ThreadPool& pool, const VocabLoss<float>& a, const zip::cpu::PackedB& W_packed,
                     const zip::cpu::PackedB* Wt_packed) {
  ZIP_CHECK(!a.ht || Wt_packed, "vocab_loss_bf16: teacher head not packed");
  vocab_blocks(pool, a, Bf16Products{pool, a, W_packed, Wt_packed});
}

template void vocab_loss<float>(ThreadPool&, const VocabLoss<float>&);
template void vocab_loss<double>(ThreadPool&, const VocabLoss<double>&);

}  // namespace zip::train::cpu

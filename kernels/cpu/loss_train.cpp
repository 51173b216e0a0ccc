// Losses, per row, forward beside backward: softmax cross-entropy, the distillation KL at a
// temperature, and the cosine / MSE hidden-state losses. Row reductions in double; each row is
// independent, so threads split rows.
#include <cmath>
#include <vector>

#include "kernels/cpu/train_kernels.h"

namespace zip::train::cpu {
namespace {

// A per-thread row buffer.
template <typename T>
T* row_buf(int V) {
  thread_local std::vector<T> buf;
  if (buf.size() < size_t(V)) buf.resize(size_t(V));
  return buf.data();
}

template <typename Fn>
void rows(ThreadPool& pool, int M, double cost, Fn&& fn) {
  parallel_for(pool, size_t(M), cost, [&](size_t b, size_t e) {
    for (size_t m = b; m < e; m++) fn(m);
  });
}

inline bool counted(const int* mask, size_t m) { return !mask || mask[m] != 0; }

}  // namespace

template <typename T>
void cross_entropy_fwd(ThreadPool& pool, T* loss, const T* logits, const int* targets, int M, int V) {
  rows(pool, M, double(V) * 8, [&](size_t m) {
    int t = targets[m];
    const T* z = logits + m * size_t(V);
    loss[m] = t < 0 ? T(0) : T(exp_row(row_buf<T>(V), z, V, 1.0).lse() - double(z[t]));
  });
}

template <typename T>
void cross_entropy_bwd(ThreadPool& pool, T* dlogits, const T* logits, const int* targets, int M, int V,
                       double dloss) {
  // d(lse(z) - z_t)/dz = softmax(z) - onehot(t)
  rows(pool, M, double(V) * 8, [&](size_t m) {
    int t = targets[m];
    if (t < 0) return;
    T* e = row_buf<T>(V);
    T c = T(dloss / exp_row(e, logits + m * size_t(V), V, 1.0).sum);
    T* dz = dlogits + m * size_t(V);
    for (int i = 0; i < V; i++) dz[i] += c * e[i];
    dz[t] -= T(dloss);
  });
}

template <typename T>
void kl_div_fwd(ThreadPool& pool, T* loss, const T* student, const T* teacher, const int* mask, int M, int V,
                float tau) {
  // τ²·Σ p_t·(log p_t - log p_s) with p = softmax(z/τ)
  double inv = 1.0 / tau, tau2 = double(tau) * tau;
  rows(pool, M, double(V) * 16, [&](size_t m) {
    if (!counted(mask, m)) {
      loss[m] = T(0);
      return;
    }
    const T *zs = student + m * size_t(V), *zt = teacher + m * size_t(V);
    T* et = row_buf<T>(V);
    double lse_s = exp_row(et, zs, V, inv).lse();  // (et is overwritten next: only lse_s is kept)
    ExpRow rt = exp_row(et, zt, V, inv);
    double lse_t = rt.lse(), kl = 0;
    for (int i = 0; i < V; i++) {
      double lpt = double(zt[i]) * inv - lse_t, lps = double(zs[i]) * inv - lse_s;
      kl += double(et[i]) / rt.sum * (lpt - lps);
    }
    loss[m] = T(tau2 * kl);
  });
}

template <typename T>
void kl_div_bwd(ThreadPool& pool, T* dstudent, const T* student, const T* teacher, const int* mask, int M, int V,
                float tau, double dloss) {
  // d/dz_s [τ²·KL] = τ²·(1/τ)·(p_s - p_t) = τ·(p_s - p_t)
  double inv = 1.0 / tau, c = dloss * tau;
  rows(pool, M, double(V) * 16, [&](size_t m) {
    if (!counted(mask, m)) return;
    T* e = row_buf<T>(2 * V);
    T *es = e, *et = e + V;
    T cs = T(c / exp_row(es, student + m * size_t(V), V, inv).sum);
    T ct = T(c / exp_row(et, teacher + m * size_t(V), V, inv).sum);
    T* d = dstudent + m * size_t(V);
    for (int i = 0; i < V; i++) d[i] += cs * es[i] - ct * et[i];
  });
}

namespace {
// Dot products and norms of one row pair, with the norms clamped away from 0.
struct CosRow {
  double ab, na, nb, cos;
};
template <typename T>
CosRow cos_row(const T* a, const T* b, int D) {
  double ab = 0, aa = 0, bb = 0;
  for (int i = 0; i < D; i++) {
    ab += double(a[i]) * double(b[i]);
    aa += double(a[i]) * double(a[i]);
    bb += double(b[i]) * double(b[i]);
  }
  double na = std::max(std::sqrt(aa), 1e-12), nb = std::max(std::sqrt(bb), 1e-12);
  return {ab, na, nb, ab / (na * nb)};
}
}  // namespace

template <typename T>
void cosine_loss_fwd(ThreadPool& pool, T* loss, const T* a, const T* b, const int* mask, int M, int D) {
  rows(pool, M, double(D) * 6, [&](size_t m) {
    loss[m] = counted(mask, m) ? T(1.0 - cos_row(a + m * size_t(D), b + m * size_t(D), D).cos) : T(0);
  });
}

template <typename T>
void cosine_loss_bwd(ThreadPool& pool, T* da, const T* a, const T* b, const int* mask, int M, int D, double dloss) {
  // d(1 - cos)/da = -(b/(|a||b|) - cos·a/|a|²)
  rows(pool, M, double(D) * 8, [&](size_t m) {
    if (!counted(mask, m)) return;
    const T *am = a + m * size_t(D), *bm = b + m * size_t(D);
    CosRow r = cos_row(am, bm, D);
    double cb = dloss / (r.na * r.nb), ca = dloss * r.cos / (r.na * r.na);
    T* d = da + m * size_t(D);
    for (int i = 0; i < D; i++) d[i] += T(ca * double(am[i]) - cb * double(bm[i]));
  });
}

template <typename T>
void mse_loss_fwd(ThreadPool& pool, T* loss, const T* a, const T* b, const int* mask, int M, int D) {
  rows(pool, M, double(D) * 3, [&](size_t m) {
    if (!counted(mask, m)) {
      loss[m] = T(0);
      return;
    }
    double s = 0;
    for (int i = 0; i < D; i++) {
      double e = double(a[m * size_t(D) + size_t(i)]) - double(b[m * size_t(D) + size_t(i)]);
      s += e * e;
    }
    loss[m] = T(s / D);
  });
}

template <typename T>
void mse_loss_bwd(ThreadPool& pool, T* da, const T* a, const T* b, const int* mask, int M, int D, double dloss) {
  T c = T(2.0 * dloss / D);
  rows(pool, M, double(D) * 3, [&](size_t m) {
    if (!counted(mask, m)) return;
    for (int i = 0; i < D; i++) {
      size_t k = m * size_t(D) + size_t(i);
      da[k] += c * (a[k] - b[k]);
    }
  });
}

#define ZIP_INSTANTIATE(T)                                                                                   \
  template void cross_entropy_fwd<T>(ThreadPool&, T*, const T*, const int*, int, int);                      \
  template void cross_entropy_bwd<T>(ThreadPool&, T*, const T*, const int*, int, int, double);              \
  template void kl_div_fwd<T>(ThreadPool&, T*, const T*, const T*, const int*, int, int, float);            \
  template void kl_div_bwd<T>(ThreadPool&, T*, const T*, const T*, const int*, int, int, float, double);    \
  template void cosine_loss_fwd<T>(ThreadPool&, T*, const T*, const T*, const int*, int, int);              \
  template void cosine_loss_bwd<T>(ThreadPool&, T*, const T*, const T*, const int*, int, int, double);      \
  template void mse_loss_fwd<T>(ThreadPool&, T*, const T*, const T*, const int*, int, int);                 \
  template void mse_loss_bwd<T>(ThreadPool&, T*, const T*, const T*, const int*, int, int, double);
ZIP_INSTANTIATE(float)
ZIP_INSTANTIATE(double)
#undef ZIP_INSTANTIATE

}  // namespace zip::train::cpu

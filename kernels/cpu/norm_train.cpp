// LayerNorm and RMSNorm with their backward passes. Row statistics are accumulated in double
// (as the reference inference backend does); rows are independent, so the forward and dx split
// over rows, while dw/db split over column blocks (each thread sums every row of its columns in
// order: no races, and results independent of the thread count).
#include <cmath>

#include "kernels/cpu/train_kernels.h"

namespace zip::train::cpu {
namespace {

constexpr size_t kColBlock = 32;

// Runs fn(j0, j1) over column blocks of [0, D).
template <typename Fn>
void for_column_blocks(ThreadPool& pool, int M, int D, Fn&& fn) {
  size_t n_blocks = (size_t(D) + kColBlock - 1) / kColBlock;
  parallel_for(pool, n_blocks, double(M) * kColBlock * 4, [&](size_t b0, size_t b1) {
    fn(b0 * kColBlock, std::min(size_t(D), b1 * kColBlock));
  });
}

}  // namespace

template <typename T>
void layernorm_fwd(ThreadPool& pool, T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, int M, int D,
                   float eps) {
  parallel_for(pool, size_t(M), double(D) * 8, [&](size_t m0, size_t m1) {
    for (size_t m = m0; m < m1; m++) {
      const T* xm = x + m * size_t(D);
      double mu = 0, var = 0;
      for (int i = 0; i < D; i++) mu += double(xm[i]);
      mu /= D;
      for (int i = 0; i < D; i++) var += (double(xm[i]) - mu) * (double(xm[i]) - mu);
      double r = 1.0 / std::sqrt(var / D + double(eps));
      mean[m] = T(mu);
      rstd[m] = T(r);
      T* ym = y + m * size_t(D);
      for (int i = 0; i < D; i++) ym[i] = T((double(xm[i]) - mu) * r) * w[i] + (b ? b[i] : T(0));
    }
  });
}

template <typename T>
void layernorm_bwd(ThreadPool& pool, T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const T* mean,
                   const T* rstd, int M, int D) {
  // xhat = (x - mean)·rstd, g = dy·w:  dx = rstd·(g - mean(g) - xhat·mean(g·xhat)).
  if (dx)
    parallel_for(pool, size_t(M), double(D) * 10, [&](size_t m0, size_t m1) {
      for (size_t m = m0; m < m1; m++) {
        const T *xm = x + m * size_t(D), *dym = dy + m * size_t(D);
        double mu = double(mean[m]), r = double(rstd[m]), sg = 0, sgx = 0;
        for (int i = 0; i < D; i++) {
          double g = double(dym[i]) * double(w[i]), xh = (double(xm[i]) - mu) * r;
          sg += g;
          sgx += g * xh;
        }
        sg /= D;
        sgx /= D;
        T* dxm = dx + m * size_t(D);
        for (int i = 0; i < D; i++) {
          double g = double(dym[i]) * double(w[i]), xh = (double(xm[i]) - mu) * r;
          dxm[i] += T(r * (g - sg - xh * sgx));
        }
      }
    });
  if (dw || db)
    for_column_blocks(pool, M, D, [&](size_t j0, size_t j1) {
      for (int m = 0; m < M; m++) {
        const T *xm = x + size_t(m) * D, *dym = dy + size_t(m) * D;
        T mu = mean[m], r = rstd[m];
        for (size_t j = j0; j < j1; j++) {
          if (dw) dw[j] += dym[j] * ((xm[j] - mu) * r);
          if (db) db[j] += dym[j];
        }
      }
    });
}

template <typename T>
void rmsnorm_fwd(ThreadPool& pool, T* y, T* rstd, const T* x, const T* w, int M, int D, float eps) {
  parallel_for(pool, size_t(M), double(D) * 4, [&](size_t m0, size_t m1) {
    for (size_t m = m0; m < m1; m++) {
      const T* xm = x + m * size_t(D);
      double ss = 0;
      for (int i = 0; i < D; i++) ss += double(xm[i]) * double(xm[i]);
      double r = 1.0 / std::sqrt(ss / D + double(eps));
      rstd[m] = T(r);
      T* ym = y + m * size_t(D);
      for (int i = 0; i < D; i++) ym[i] = T(double(xm[i]) * r) * w[i];
    }
  });
}

template <typename T>
void rmsnorm_bwd(ThreadPool& pool, T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int M, int D) {
  // y = w·x·r, r = (mean(x²) + eps)^-1/2:  dx = r·(g - x·r²·mean(g·x)) with g = dy·w.
  if (dx)
    parallel_for(pool, size_t(M), double(D) * 6, [&](size_t m0, size_t m1) {
      for (size_t m = m0; m < m1; m++) {
        const T *xm = x + m * size_t(D), *dym = dy + m * size_t(D);
        double r = double(rstd[m]), sgx = 0;
        for (int i = 0; i < D; i++) sgx += double(dym[i]) * double(w[i]) * double(xm[i]);
        double c = r * r * sgx / D;
        T* dxm = dx + m * size_t(D);
        for (int i = 0; i < D; i++) dxm[i] += T(r * (double(dym[i]) * double(w[i]) - double(xm[i]) * c));
      }
    });
  if (dw)
    for_column_blocks(pool, M, D, [&](size_t j0, size_t j1) {
      for (int m = 0; m < M; m++) {
        const T *xm = x + size_t(m) * D, *dym = dy + size_t(m) * D;
        T r = rstd[m];
        for (size_t j = j0; j < j1; j++) dw[j] += dym[j] * (xm[j] * r);
      }
    });
}

#define ZIP_INSTANTIATE(T)                                                                                       \
  template void layernorm_fwd<T>(ThreadPool&, T*, T*, T*, const T*, const T*, const T*, int, int, float);       \
  template void layernorm_bwd<T>(ThreadPool&, T*, T*, T*, const T*, const T*, const T*, const T*, const T*, int, \
                                 int);                                                                           \
  template void rmsnorm_fwd<T>(ThreadPool&, T*, T*, const T*, const T*, int, int, float);                        \
  template void rmsnorm_bwd<T>(ThreadPool&, T*, T*, const T*, const T*, const T*, const T*, int, int);
ZIP_INSTANTIATE(float)
ZIP_INSTANTIATE(double)
#undef ZIP_INSTANTIATE

}  // namespace zip::train::cpu

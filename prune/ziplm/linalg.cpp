#include "prune/ziplm/linalg.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/thread_pool.h"

namespace zip::linalg {

namespace {

constexpr int kMR = 4;  // rows of C per micro-tile
constexpr int kNV = 2;  // 4-wide vectors of C columns per micro-tile

// A 4-double vector (GCC/Clang vector extension: AVX2 ymm with -march=native, SSE pairs without).
// Rows are not aligned, so loads and stores go through memcpy (written inline: a function
// returning v4d would trip -Wpsabi in PORTABLE builds).
typedef double v4d __attribute__((vector_size(32)));

// C[MR rows × n] -= A[MR × k] · B[k × n]. The MR × 4·kNV accumulator tile stays in registers
// while the k loop streams a strip of B, so each B load feeds MR multiply-adds.
template <int MR>
void rows_kernel(double* C, int ldc, const double* A, int lda, const double* B, int ldb, int n, int k) {
  constexpr int NR = 4 * kNV;
  int j = 0;
  for (; j + NR <= n; j += NR) {
    v4d acc[MR][kNV];
    for (int r = 0; r < MR; r++)
      for (int v = 0; v < kNV; v++) std::memcpy(&acc[r][v], C + size_t(r) * ldc + j + 4 * v, sizeof(v4d));
    for (int p = 0; p < k; p++) {
      const double* b = B + size_t(p) * ldb + j;
      v4d bv[kNV];
      for (int v = 0; v < kNV; v++) std::memcpy(&bv[v], b + 4 * v, sizeof(v4d));
      for (int r = 0; r < MR; r++) {
        const double a = A[size_t(r) * lda + p];
        for (int v = 0; v < kNV; v++) acc[r][v] -= a * bv[v];
      }
    }
    for (int r = 0; r < MR; r++)
      for (int v = 0; v < kNV; v++) std::memcpy(C + size_t(r) * ldc + j + 4 * v, &acc[r][v], sizeof(v4d));
  }
  if (j == n) return;
  for (int r = 0; r < MR; r++) {
    double* c = C + size_t(r) * ldc;
    for (int p = 0; p < k; p++) {
      const double a = A[size_t(r) * lda + p];
      const double* b = B + size_t(p) * ldb;
      for (int jj = j; jj < n; jj++) c[jj] -= a * b[jj];
    }
  }
}

void sub_matmul_rows(double* C, int ldc, const double* A, int lda, const double* B, int ldb, int m0, int m1, int n,
                     int k) {
  int i = m0;
  for (; i + kMR <= m1; i += kMR)
    rows_kernel<kMR>(C + size_t(i) * ldc, ldc, A + size_t(i) * lda, lda, B, ldb, n, k);
  for (; i < m1; i++) rows_kernel<1>(C + size_t(i) * ldc, ldc, A + size_t(i) * lda, lda, B, ldb, n, k);
}

}  // namespace

void sub_matmul(double* C, int ldc, const double* A, int lda, const double* B, int ldb, int m, int n, int k,
                ThreadPool* pool) {
  if (m <= 0 || n <= 0 || k <= 0) return;
  const double flops = double(m) * n * k;
  if (!pool || pool->size() == 1 || flops < 256 * 1024 || m < 2 * kMR) {
    sub_matmul_rows(C, ldc, A, lda, B, ldb, 0, m, n, k);
    return;
  }
  pool->run([&](int t, int nt) {
    // Whole micro-tiles per thread.
    size_t b, e;
    ThreadPool::split(size_t((m + kMR - 1) / kMR), t, nt, &b, &e);
    const int m0 = int(b) * kMR, m1 = std::min(m, int(e) * kMR);
    if (m0 < m1) sub_matmul_rows(C, ldc, A, lda, B, ldb, m0, m1, n, k);
  });
}

bool cholesky(double* A, int n) {
  for (int i = 0; i < n; i++) {
    double* li = A + size_t(i) * n;
    for (int j = 0; j <= i; j++) {
      const double* lj = A + size_t(j) * n;
      double s = li[j];
      for (int p = 0; p < j; p++) s -= li[p] * lj[p];
      if (j < i) {
        li[j] = s / lj[j];
      } else {
        if (!(s > 0.0) || !std::isfinite(s)) return false;  // also catches NaN
        li[i] = std::sqrt(s);
      }
    }
    for (int j = i + 1; j < n; j++) li[j] = 0.0;
  }
  return true;
}

bool spd_inverse_small(double* A, int n) {
  if (!cholesky(A, n)) return false;
  // Linv = L⁻¹ (lower triangular) by forward substitution, column by column of the identity.
  std::vector<double> Linv(size_t(n) * size_t(n), 0.0);
  for (int i = 0; i < n; i++) {
    const double* li = A + size_t(i) * n;
    double* vi = Linv.data() + size_t(i) * n;
    vi[i] = 1.0 / li[i];
    for (int j = 0; j < i; j++) {
      // (L·Linv)[i][j] = 0  →  Linv[i][j] = −(Σ_{p=j}^{i-1} L[i][p]·Linv[p][j]) / L[i][i]
      double s = 0.0;
      for (int p = j; p < i; p++) s += li[p] * Linv[size_t(p) * n + j];
      vi[j] = -s / li[i];
    }
  }
  // A⁻¹ = Linvᵀ · Linv: (i, j) = Σ_{p ≥ max(i,j)} Linv[p][i]·Linv[p][j]; accumulate row by row of Linv
  // (rank-1 updates over contiguous rows) to stay cache-friendly.
  std::fill(A, A + size_t(n) * n, 0.0);
  for (int p = 0; p < n; p++) {
    const double* vp = Linv.data() + size_t(p) * n;
    for (int i = 0; i <= p; i++) {
      const double a = vp[i];
      double* ai = A + size_t(i) * n;
      for (int j = 0; j <= p; j++) ai[j] += a * vp[j];
    }
  }
  return true;
}

bool spd_inverse(double* A, int n, ThreadPool* pool) {
  constexpr int kB = 64;
  if (n <= kB) return spd_inverse_small(A, n);
  // Sweep operator, block by block: after sweeping every index A holds −A⁻¹. Sweeping block K
  // (P = A_KK⁻¹, R = the rest): A_RR −= A_RK·P·A_KR, A_RK = A_RK·P, A_KR = P·A_KR, A_KK = −P.
  // The pivot blocks are Schur complements of A, hence SPD exactly when A is.
  std::vector<double> P(size_t(kB) * kB), T(size_t(n) * kB), Bk(size_t(kB) * n);
  for (int k0 = 0; k0 < n; k0 += kB) {
    const int b = std::min(kB, n - k0), k1 = k0 + b;
    for (int u = 0; u < b; u++)
      std::memcpy(&P[size_t(u) * b], A + size_t(k0 + u) * n + k0, sizeof(double) * size_t(b));
    if (!spd_inverse_small(P.data(), b)) return false;
    std::memcpy(Bk.data(), A + size_t(k0) * n, sizeof(double) * size_t(b) * n);
    // T = A_{:,K}·P (rows of K give the identity; unused).
    for (int i = 0; i < n; i++) {
      const double* ai = A + size_t(i) * n + k0;
      double* ti = T.data() + size_t(i) * b;
      std::fill(ti, ti + b, 0.0);
      for (int u = 0; u < b; u++) {
        const double a = ai[u];
        const double* pu = P.data() + size_t(u) * b;
        for (int v = 0; v < b; v++) ti[v] += a * pu[v];
      }
    }
    sub_matmul(A, n, T.data(), b, Bk.data(), n, k0, n, b, pool);
    sub_matmul(A + size_t(k1) * n, n, T.data() + size_t(k1) * b, b, Bk.data(), n, n - k1, n, b, pool);
    for (int i = 0; i < n; i++) {
      if (i >= k0 && i < k1) continue;
      std::memcpy(A + size_t(i) * n + k0, T.data() + size_t(i) * b, sizeof(double) * size_t(b));
    }
    for (int u = 0; u < b; u++) {
      double* au = A + size_t(k0 + u) * n;
      for (int j = 0; j < n; j++) au[j] = T[size_t(j) * b + u];  // A_KR = (A_RK·P)ᵀ by symmetry
      for (int v = 0; v < b; v++) au[k0 + v] = -P[size_t(u) * b + v];
    }
  }
  for (size_t i = 0, nn = size_t(n) * n; i < nn; i++) A[i] = -A[i];
  return true;
}

}  // namespace zip::linalg

#include "kernels/cpu/linalg.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "base/thread_pool.h"
#include "kernels/cpu/gemm.h"

namespace zip::linalg {

void sub_matmul(double* C, int ldc, const double* A, int lda, const double* B, int ldb, int m, int n, int k,
                ThreadPool* pool) {
  if (m <= 0 || n <= 0 || k <= 0) return;
  // Through the one GEMM core as C += (-A)·B: negation is exact and c + (-a)·b rounds exactly as
  // c - a·b, so the results are those of a dedicated subtracting kernel, bit for bit.
  thread_local std::vector<double> neg_a;
  neg_a.resize(size_t(m) * size_t(k));
  for (int i = 0; i < m; i++)
    for (int p = 0; p < k; p++) neg_a[size_t(i) * k + p] = -A[size_t(i) * lda + p];
  cpu::gemm<double>(pool, C, size_t(ldc), neg_a.data(), cpu::Strides{size_t(k), 1}, B, cpu::Strides{size_t(ldb), 1},
                    m, n, k, true, nullptr);
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

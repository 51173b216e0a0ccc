// Dense f64 linear algebra on the CPU GEMM core (row-major, explicit leading dimensions): the
// rank-k update every OBS step is made of, Cholesky, inverses of SPD matrices. Used by the pruning
// solvers (prune/ziplm/obs) and the latency fit (compress/latency).
#pragma once

namespace zip {
class ThreadPool;
}

namespace zip::linalg {

// C[m×n] -= A[m×k] · B[k×n] (leading dimensions ldc, lda, ldb). Register-tiled; rows of C are
// split over the pool when one is given and the work is large enough.
void sub_matmul(double* C, int ldc, const double* A, int lda, const double* B, int ldb, int m, int n, int k,
                ThreadPool* pool = nullptr);

// In place: the lower triangle of A (n×n) becomes L with A = L·Lᵀ; the strict upper triangle is
// zeroed. False (A then undefined) if A is not numerically positive definite.
bool cholesky(double* A, int n);

// In place inverse of an SPD matrix through its Cholesky factor (unblocked, O(n³) with no cache
// blocking: meant for n up to a few hundred). False if A is not positive definite.
bool spd_inverse_small(double* A, int n);

// In place inverse of an SPD matrix of any size: block Gauss–Jordan sweeps (the same rank-k
// update as an OBS downdate), each 64×64 pivot block inverted through its Cholesky factor, so a
// non-positive pivot block (A not positive definite) is detected. False (A undefined) then.
bool spd_inverse(double* A, int n, ThreadPool* pool = nullptr);

}  // namespace zip::linalg

// The GEMM core: C (+)= A·B with arbitrary strides on A and B, so no operand is ever transposed
// in memory. B is packed into panels of NR columns (zero-padded; each thread packs the panels its
// tiles use), and an MR×NR register tile (8 rows × two 64-byte vectors: 16 accumulators) accumulates
// over a block of K, an axpy over NR contiguous columns per row. Each output element
// sums over K in order, so results do not depend on the thread count.
// Serves the training linear layers and attention (float, double) and the pruning solvers' f64
// rank-k update (prune/linalg.cpp sub_matmul).
#include "kernels/cpu/gemm.h"

#include <array>
#include <cstring>
#include <utility>
#include <vector>

namespace zip::cpu {
namespace {

// One 64-byte vector of T (one AVX-512 register; two AVX2 ones).
template <typename T>
constexpr int kVL = 64 / int(sizeof(T));
constexpr int kNV = 2;  // vectors per tile row
template <typename T>
constexpr int kNR = kNV * kVL<T>;  // columns per panel
constexpr int kMR = 8;              // rows per register tile: 8 x 2 = 16 independent accumulators,
                                    // enough to hide the FMA latency on two pipes
constexpr int kKC = 256;            // K block: a packed panel block stays in L1/L2

// acc (+)= A[MR rows, kc] · Bp[kc, NR]; then stores the first nr columns into C. Two GCC vectors
// per row, written with vector extensions because the compiler does not keep a plain MR×NR
// array in registers; the accumulators are only ever moved whole (a lane index would send them
// to the stack), partial tiles going through a small buffer. Each element sums its products in
// k order (one FMA each), whatever the tile shape, so results do not depend on MR, NR or the
// thread count.
template <typename T, int MR>
inline void tile(T* C, size_t ldc, const T* A, Strides a, const T* Bp, int kc, int nr, bool load_c, const T* bias) {
  static_assert(kNV == 2);
  constexpr int VL = kVL<T>, NR = kNR<T>;
  typedef T V __attribute__((vector_size(VL * sizeof(T))));
  V acc0[MR], acc1[MR];
  const bool full = nr == NR;
  alignas(64) T edge[MR][NR];
  for (int i = 0; i < MR; i++) {
    const T* c = C + size_t(i) * ldc;
    const T* src = c;
    if (!(load_c && full)) {
      for (int j = 0; j < NR; j++) edge[i][j] = j >= nr ? T(0) : load_c ? c[j] : bias ? bias[j] : T(0);
      src = edge[i];
    }
    std::memcpy(&acc0[i], src, sizeof(V));
    std::memcpy(&acc1[i], src + VL, sizeof(V));
  }
  for (int k = 0; k < kc; k++) {
    V b0, b1;
    std::memcpy(&b0, Bp + size_t(k) * NR, sizeof(V));
    std::memcpy(&b1, Bp + size_t(k) * NR + VL, sizeof(V));
    const T* ak = A + size_t(k) * a.cs;
    for (int i = 0; i < MR; i++) {
      T ai = ak[size_t(i) * a.rs];
      acc0[i] += ai * b0;
      acc1[i] += ai * b1;
    }
  }
  for (int i = 0; i < MR; i++) {
    T* c = C + size_t(i) * ldc;
    T* dst = full ? c : edge[i];
    std::memcpy(dst, &acc0[i], sizeof(V));
    std::memcpy(dst + VL, &acc1[i], sizeof(V));
    if (!full)
      for (int j = 0; j < nr; j++) c[j] = edge[i][j];
  }
}

// The tile for mr = 1..kMR rows (the last row block may be short).
template <typename T, size_t... I>
constexpr auto tile_table(std::index_sequence<I...>) {
  return std::array{&tile<T, int(I) + 1>...};
}
template <typename T>
void tile_rows(int mr, T* C, size_t ldc, const T* A, Strides a, const T* Bp, int kc, int nr, bool load_c,
               const T* bias) {
  static constexpr auto table = tile_table<T>(std::make_index_sequence<kMR>{});
  table[size_t(mr - 1)](C, ldc, A, a, Bp, kc, nr, load_c, bias);
}

}  // namespace

template <typename T>
void gemm(ThreadPool* pool, T* C, size_t ldc, const T* A, Strides a, const T* B, Strides b, int M, int N, int K,
          bool accumulate, const T* bias) {
  if (M <= 0 || N <= 0) return;
  constexpr int NR = kNR<T>;
  if (K <= 0) {  // an empty product: only the bias (or nothing) remains
    if (!accumulate)
      for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) C[size_t(i) * ldc + size_t(j)] = bias ? bias[j] : T(0);
    return;
  }
  const int n_panels = (N + NR - 1) / NR, n_rowblk = (M + kMR - 1) / kMR;
  // Tiles ordered panel-major: a thread's contiguous range of tiles touches few panels, which
  // it packs itself (one parallel region per product, no barrier between packing and use).
  // When all of B packed is small (a short K, as in the pruning solvers' rank-k updates), tiles
  // go row-major instead and every thread packs all of B: C is then walked along its rows, not
  // down columns of panels, which page-strides through a large C when K is too short to hide it.
  // The order changes no result (each element is computed alone).
  const bool row_major = size_t(K) * size_t(n_panels) * NR * sizeof(T) <= 256 * 1024;
  auto tile_at = [&](size_t t, int* p, int* i0) {
    if (row_major)
      *p = int(t % size_t(n_panels)), *i0 = int(t / size_t(n_panels)) * kMR;
    else
      *p = int(t / size_t(n_rowblk)), *i0 = int(t % size_t(n_rowblk)) * kMR;
  };
  auto work = [&](size_t t0, size_t t1) {
    int p_first = 0, p_last = n_panels - 1;
    if (!row_major) p_first = int(t0 / size_t(n_rowblk)), p_last = int((t1 - 1) / size_t(n_rowblk));
    // Packed B: panel p holds B[k, p·NR + j] at ((p - p_first)·K + k)·NR + j, zero-padded.
    thread_local std::vector<T> packed;
    packed.resize(size_t(p_last - p_first + 1) * size_t(K) * NR);
    for (int p = p_first; p <= p_last; p++) {
      int j0 = p * NR, nr = std::min(NR, N - j0);
      T* dst = packed.data() + size_t(p - p_first) * size_t(K) * NR;
      for (int k = 0; k < K; k++, dst += NR) {
        const T* src = B + size_t(k) * b.rs + size_t(j0) * b.cs;
        for (int j = 0; j < nr; j++) dst[j] = src[size_t(j) * b.cs];
        for (int j = nr; j < NR; j++) dst[j] = T(0);
      }
    }
    for (int k0 = 0; k0 < K; k0 += kKC) {
      int kc = std::min(kKC, K - k0);
      for (size_t t = t0; t < t1; t++) {
        int p, i0;
        tile_at(t, &p, &i0);
        int j0 = p * NR, nr = std::min(NR, N - j0), mr = std::min(kMR, M - i0);
        const T* Ablk = A + size_t(i0) * a.rs + size_t(k0) * a.cs;
        const T* Bblk = packed.data() + (size_t(p - p_first) * K + size_t(k0)) * NR;
        bool load_c = accumulate || k0 > 0;
        tile_rows(mr, C + size_t(i0) * ldc + size_t(j0), ldc, Ablk, a, Bblk, kc, nr, load_c,
                  bias && !load_c ? bias + j0 : nullptr);
      }
    }
  };
  size_t n_tiles = size_t(n_panels) * size_t(n_rowblk);
  if (pool)
    parallel_for(*pool, n_tiles, double(kMR) * NR * K, work);
  else
    work(0, n_tiles);
}


#define ZIP_INSTANTIATE(T)                                                                                  \
  template void gemm<T>(ThreadPool*, T*, size_t, const T*, Strides, const T*, Strides, int, int, int, bool,     \
                        const T*);
ZIP_INSTANTIATE(float)
ZIP_INSTANTIATE(double)
#undef ZIP_INSTANTIATE

}  // namespace zip::cpu

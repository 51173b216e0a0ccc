// The bf16 GEMM (gemm_bf16.h). Both operands are packed into bf16 pair words: B into panels of
// 48 columns (three 16-lane vectors per pair row), A either row-major
// ([M][KP], when its rows are contiguous along K) or pair-row-major ([KP][M], otherwise: the
// transposed operand of a weight gradient), so each packing reads its source contiguously. An
// 8×48 register tile (24 accumulators) then adds one pair per instruction per vector. Each
// element sums its pairs in K order: results do not depend on the thread count.
#include "kernels/cpu/gemm_bf16.h"

#include <array>
#include <cmath>
#include <cstring>
#include <utility>

#include "base/float16.h"
#include "engine/error.h"
#include "base/simd.h"  // immintrin.h and the GCC 12 AVX-512 warning pragmas

namespace zip::cpu {
namespace {

// An 8 × 48 tile: 24 accumulators, 3 vector loads and 8 broadcasts per 24 dot products (measured
// ~10-20 % faster than 8 × 32 on Zen 4; 24 accumulators + 3 B vectors + 1 broadcast fit the 32 registers).
constexpr int kNV = 3;         // 16-lane vectors per tile row
constexpr int kNR = 16 * kNV;  // columns per panel
constexpr int kMR = 8;         // rows per register tile
constexpr int kKP = 128;  // pairs per K block (256 values of K), as the f32 core's kKC

// Round to bf16, nearest even, NaN kept quiet: branch-free so packing loops vectorise.
inline uint32_t bf16_bits(float f) {
  uint32_t u = f32_bits(f);
  uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, nan = (u >> 16) | 0x40u;
  return ((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded) & 0xffffu;
}
inline uint32_t pair_word(float lo, float hi) { return bf16_bits(lo) | (bf16_bits(hi) << 16); }

template <typename Fn>
void run_range(ThreadPool* pool, size_t n, double cost, Fn&& fn) {
  if (pool)
    parallel_for(*pool, n, cost, fn);
  else if (n)
    fn(size_t(0), n);
}

// A packed: word (i, kp) at p[i·is + kp·ks].
struct PackedA {
  const uint32_t* p;
  size_t is, ks;
};

PackedA pack_a(ThreadPool* pool, std::vector<uint32_t>& buf, const float* A, Strides a, int M, int K) {
  const size_t KP = size_t(K + 1) / 2, half = size_t(K) / 2;
  buf.resize(size_t(M) * KP);
  uint32_t* out = buf.data();
  if (a.cs == 1) {  // rows contiguous along K: [M][KP]
    run_range(pool, size_t(M), double(KP) * 4, [&](size_t i0, size_t i1) {
      for (size_t i = i0; i < i1; i++) {
        const float* r = A + i * a.rs;
        uint32_t* d = out + i * KP;
        for (size_t kp = 0; kp < half; kp++) d[kp] = pair_word(r[2 * kp], r[2 * kp + 1]);
        if (K % 2) d[half] = pair_word(r[K - 1], 0.0f);
      }
    });
    return {out, KP, 1};
  }
  // Otherwise [KP][M]: pair row kp interleaves A's columns 2kp and 2kp+1, read along i.
  run_range(pool, KP, double(M) * 4, [&](size_t p0, size_t p1) {
    for (size_t kp = p0; kp < p1; kp++) {
      const float* c0 = A + 2 * kp * a.cs;
      uint32_t* d = out + kp * size_t(M);
      if (kp < half)
        for (size_t i = 0; i < size_t(M); i++) d[i] = pair_word(c0[i * a.rs], c0[i * a.rs + a.cs]);
      else
        for (size_t i = 0; i < size_t(M); i++) d[i] = pair_word(c0[i * a.rs], 0.0f);
    }
  });
  return {out, 1, size_t(M)};
}

// Panels [p0, p1) of B into out (panel p at out + p·KP·kNR).
void pack_b_panels(uint32_t* out, const float* B, Strides b, int K, int N, size_t p0, size_t p1) {
  const size_t KP = size_t(K + 1) / 2, half = size_t(K) / 2;
  for (size_t p = p0; p < p1; p++) {
    const size_t j0 = p * kNR, nr = std::min(size_t(kNR), size_t(N) - j0);
    uint32_t* dst = out + p * KP * kNR;
    if (b.cs == 1) {  // rows of B contiguous: interleave two rows
      for (size_t kp = 0; kp < KP; kp++) {
        const float* r0 = B + 2 * kp * b.rs + j0;
        uint32_t* d = dst + kp * kNR;
        if (kp < half)
          for (size_t j = 0; j < nr; j++) d[j] = pair_word(r0[j], r0[j + b.rs]);
        else
          for (size_t j = 0; j < nr; j++) d[j] = pair_word(r0[j], 0.0f);
        for (size_t j = nr; j < kNR; j++) d[j] = 0;
      }
    } else {  // columns of B (rows of a weight, for y = x·Wᵀ) read one at a time
      for (size_t j = 0; j < kNR; j++) {
        if (j >= nr) {
          for (size_t kp = 0; kp < KP; kp++) dst[kp * kNR + j] = 0;
          continue;
        }
        const float* col = B + (j0 + j) * b.cs;
        for (size_t kp = 0; kp < half; kp++) dst[kp * kNR + j] = pair_word(col[2 * kp * b.rs], col[(2 * kp + 1) * b.rs]);
        if (K % 2) dst[half * kNR + j] = pair_word(col[2 * half * b.rs], 0.0f);
      }
    }
  }
}

typedef float VF __attribute__((vector_size(64)));
typedef uint32_t VU __attribute__((vector_size(64)));

// The tile's accumulators start from C, the bias or zero, through a buffer for partial tiles.
template <int MR>
inline void tile_load(VF (&acc)[MR][kNV], float (&edge)[MR][kNR], const float* C, size_t ldc, int nr, bool load_c,
                      const float* bias) {
  for (int i = 0; i < MR; i++) {
    const float* c = C + size_t(i) * ldc;
    const float* src = c;
    if (!(load_c && nr == kNR)) {
      for (int j = 0; j < kNR; j++) edge[i][j] = j >= nr ? 0.0f : load_c ? c[j] : bias ? bias[j] : 0.0f;
      src = edge[i];
    }
    for (int v = 0; v < kNV; v++) std::memcpy(&acc[i][v], src + 16 * v, 64);
  }
}
template <int MR>
inline void tile_store(const VF (&acc)[MR][kNV], float (&edge)[MR][kNR], float* C, size_t ldc, int nr) {
  for (int i = 0; i < MR; i++) {
    float* c = C + size_t(i) * ldc;
    float* dst = nr == kNR ? c : edge[i];
    for (int v = 0; v < kNV; v++) std::memcpy(dst + 16 * v, &acc[i][v], 64);
    if (nr != kNR)
      for (int j = 0; j < nr; j++) c[j] = edge[i][j];
  }
}

// 16 pair words widened to f32: the even (low) and odd (high) elements. (Vectors go by reference:
// no 64-byte by-value arguments, whose ABI differs without AVX-512.)
inline void widen_pairs(const uint32_t* p, VF& even, VF& odd) {
  VU w;
  std::memcpy(&w, p, 64);
  VU e = w << 16, o = w & 0xffff0000u;
  std::memcpy(&even, &e, 64);
  std::memcpy(&odd, &o, 64);
}
// c += a·b, one rounding per lane.
inline void fma_bcast(float a, const VF& b, VF& c) {
#if defined(__AVX512F__)
  c = VF(_mm512_fmadd_ps(_mm512_set1_ps(a), __m512(b), __m512(c)));
#elif defined(__AVX2__) && defined(__FMA__)
  __m256 bv[2], cv[2];
  std::memcpy(bv, &b, 64);
  std::memcpy(cv, &c, 64);
  for (int h = 0; h < 2; h++) cv[h] = _mm256_fmadd_ps(_mm256_set1_ps(a), bv[h], cv[h]);
  std::memcpy(&c, cv, 64);
#else
  for (int l = 0; l < 16; l++) c[l] = std::fma(a, b[l], c[l]);
#endif
}

// acc (+)= A[MR rows, kpc pairs] · Bp[kpc pairs, kNR]: the native dot product or its portable twin.
template <int MR, bool Native>
void tile(float* C, size_t ldc, PackedA A, const uint32_t* Bp, int kpc, int nr, bool load_c, const float* bias) {
  VF acc[MR][kNV];
  alignas(64) float edge[MR][kNR];
  tile_load<MR>(acc, edge, C, ldc, nr, load_c, bias);
  if constexpr (Native) {
#if defined(__AVX512BF16__)
    __m512 ac[MR][kNV];
    for (int i = 0; i < MR; i++)
      for (int v = 0; v < kNV; v++) ac[i][v] = __m512(acc[i][v]);
    for (int kp = 0; kp < kpc; kp++) {
      __m512bh b[kNV];
      for (int v = 0; v < kNV; v++) b[v] = __m512bh(_mm512_loadu_si512(Bp + size_t(kp) * kNR + 16 * v));
      const uint32_t* ak = A.p + size_t(kp) * A.ks;
      for (int i = 0; i < MR; i++) {
        __m512bh av = __m512bh(_mm512_set1_epi32(int(ak[size_t(i) * A.is])));
        for (int v = 0; v < kNV; v++) ac[i][v] = _mm512_dpbf16_ps(ac[i][v], av, b[v]);
      }
    }
    for (int i = 0; i < MR; i++)
      for (int v = 0; v < kNV; v++) acc[i][v] = VF(ac[i][v]);
#endif
  } else {
    for (int kp = 0; kp < kpc; kp++) {
      VF be[kNV], bo[kNV];
      for (int v = 0; v < kNV; v++) widen_pairs(Bp + size_t(kp) * kNR + 16 * v, be[v], bo[v]);
      const uint32_t* ak = A.p + size_t(kp) * A.ks;
      for (int i = 0; i < MR; i++) {
        uint32_t aw = ak[size_t(i) * A.is];
        float ae = bits_f32(aw << 16), ao = bits_f32(aw & 0xffff0000u);
        for (int v = 0; v < kNV; v++) {  // odd element first, as vdpbf16ps
          fma_bcast(ao, bo[v], acc[i][v]);
          fma_bcast(ae, be[v], acc[i][v]);
        }
      }
    }
  }
  tile_store<MR>(acc, edge, C, ldc, nr);
}

using TileFn = void (*)(float*, size_t, PackedA, const uint32_t*, int, int, bool, const float*);
template <bool Native, size_t... I>
constexpr auto tile_table(std::index_sequence<I...>) {
  return std::array<TileFn, sizeof...(I)>{&tile<int(I) + 1, Native>...};
}

// C (+)= A·B over packed operands; tiles panel-major so a thread's range touches few panels.
void multiply(ThreadPool* pool, float* C, size_t ldc, PackedA A, const uint32_t* Bw, int M, int N, int K,
              bool accumulate, const float* bias, Bf16Kernel kernel) {
  static constexpr auto portable = tile_table<false>(std::make_index_sequence<kMR>{});
#if defined(__AVX512BF16__)
  static constexpr auto native = tile_table<true>(std::make_index_sequence<kMR>{});
  const auto& table = kernel == Bf16Kernel::native ? native : portable;
#else
  ZIP_CHECK(kernel == Bf16Kernel::portable, "gemm_bf16: this build has no AVX512_BF16 kernel");
  const auto& table = portable;
#endif
  const int KP = (K + 1) / 2, n_panels = (N + kNR - 1) / kNR, n_rowblk = (M + kMR - 1) / kMR;
  auto work = [&](size_t t0, size_t t1) {
    for (int kp0 = 0; kp0 < KP; kp0 += kKP) {
      const int kpc = std::min(kKP, KP - kp0);
      const bool load_c = accumulate || kp0 > 0;
      for (size_t t = t0; t < t1; t++) {
        const int p = int(t / size_t(n_rowblk)), i0 = int(t % size_t(n_rowblk)) * kMR;
        const int j0 = p * kNR, nr = std::min(kNR, N - j0), mr = std::min(kMR, M - i0);
        PackedA blk{A.p + size_t(i0) * A.is + size_t(kp0) * A.ks, A.is, A.ks};
        const uint32_t* Bblk = Bw + (size_t(p) * KP + size_t(kp0)) * kNR;
        table[size_t(mr - 1)](C + size_t(i0) * ldc + size_t(j0), ldc, blk, Bblk, kpc, nr, load_c,
                              bias && !load_c ? bias + j0 : nullptr);
      }
    }
  };
  run_range(pool, size_t(n_panels) * size_t(n_rowblk), double(kMR) * kNR * K, work);
}

void zero_product(float* C, size_t ldc, int M, int N, bool accumulate, const float* bias) {
  if (accumulate) return;
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) C[size_t(i) * ldc + size_t(j)] = bias ? bias[j] : 0.0f;
}

}  // namespace

bool bf16_native_kernel() {
#if defined(__AVX512BF16__)
  return true;
#else
  return false;
#endif
}
Bf16Kernel default_bf16_kernel() { return bf16_native_kernel() ? Bf16Kernel::native : Bf16Kernel::portable; }

void pack_b_bf16(ThreadPool* pool, PackedB& out, const float* B, Strides b, int K, int N) {
  out.K = K, out.N = N;
  const size_t KP = size_t(std::max(K, 0) + 1) / 2, n_panels = (size_t(std::max(N, 0)) + kNR - 1) / kNR;
  out.words.resize(n_panels * KP * kNR);
  if (K <= 0 || N <= 0) return;
  run_range(pool, n_panels, double(KP) * kNR * 4,
            [&](size_t p0, size_t p1) { pack_b_panels(out.words.data(), B, b, K, N, p0, p1); });
}

void gemm_bf16(ThreadPool* pool, float* C, size_t ldc, const float* A, Strides a, const PackedB& B, int M,
               bool accumulate, const float* bias, Bf16Kernel kernel) {
  if (M <= 0 || B.N <= 0) return;
  if (B.K <= 0) return zero_product(C, ldc, M, B.N, accumulate, bias);
  thread_local std::vector<uint32_t> a_buf;  // kept between calls: no fresh pages every product
  PackedA pa = pack_a(pool, a_buf, A, a, M, B.K);
  multiply(pool, C, ldc, pa, B.words.data(), M, B.N, B.K, accumulate, bias, kernel);
}

void gemm_bf16(ThreadPool* pool, float* C, size_t ldc, const float* A, Strides a, const float* B, Strides b, int M,
               int N, int K, bool accumulate, const float* bias, Bf16Kernel kernel) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return zero_product(C, ldc, M, N, accumulate, bias);
  thread_local PackedB b_buf;
  pack_b_bf16(pool, b_buf, B, b, K, N);
  gemm_bf16(pool, C, ldc, A, a, b_buf, M, accumulate, bias, kernel);
}

}  // namespace zip::cpu

// AVX2 dot products (quant_dot_simd.inc): maddubs (u8·s8 → s16 pairs) then madd against ones, or
// against the scales (which fuses the sub-block scaling). Compiled with a target attribute, not
// the build's -march, so PORTABLE builds keep it and pick it by cpuid (quant_matmul.cpp).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/quant_act.h"
#include "kernels/cpu/quant_dot.h"

// GCC and clang spell "compile what follows for these features" differently.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
#include "kernels/cpu/quant_tile_loop.h"

namespace zip::cpu::qdot {
namespace {
constexpr int kTileMR = 2;  // x rows per tile: 16 vector registers
constexpr bool kDotExact = false;  // maddubs saturates at int16 (quant_dot_repack.inc)
inline __m256i dot(__m256i acc, __m256i u, __m256i s) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}
inline __m256i dot_scaled(__m256i acc, __m256i u, __m256i s, __m256i c) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), c));
}
}  // namespace
#include "kernels/cpu/quant_dot_simd.inc"
#include "kernels/cpu/quant_dot_repack.inc"

const Kernels& avx2_kernels() {
  static const Kernels k = [] {
    Kernels r = make_kernels<Tile32<W32::Q8_0>, Tile32<W32::Q4_0>, Tile32<W32::Q5_0>, TileQ4K, TileQ6K>();
    // Tile32 for decode, interleaved panels for prefill (quant_dot_repack.inc).
    r.q8_0 = &w32_range<W32::Q8_0>, r.q4_0 = &w32_range<W32::Q4_0>, r.q5_0 = &w32_range<W32::Q5_0>;
    r.repack_q8_0 = &repack_all<W32::Q8_0>, r.repack_q4_0 = &repack_all<W32::Q4_0>;
    return r;
  }();
  return k;
}

}  // namespace zip::cpu::qdot
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

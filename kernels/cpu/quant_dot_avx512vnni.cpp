// AVX512-VNNI dot products (quant_dot_simd.inc): vpdpbusd, EVEX-encoded at 256 bits (AVX512VL),
// with 32 vector registers for tiles of 4 x rows. 256 bits because a Q8_0/Q4_0 block is 32 bytes; the
// K-quants would gain from 512 bits (left for later).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/quant_act.h"
#include "kernels/cpu/quant_dot.h"

// GCC and clang spell "compile what follows for these features" differently.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")
#endif
#include "kernels/cpu/quant_tile_loop.h"

namespace zip::cpu::qdot {
namespace {
constexpr int kTileMR = 4;  // x rows per tile: 32 vector registers hold their accumulators and operands
constexpr bool kDotExact = true;  // vpdpbusd: no intermediate saturation (quant_dot_repack.inc)
inline __m256i dot(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_epi32(acc, u, s); }
// Scaled: maddubs + madd against the scales (one instruction fewer than vpdpbusd + vpmulld).
inline __m256i dot_scaled(__m256i acc, __m256i u, __m256i s, __m256i c) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), c));
}
}  // namespace
#include "kernels/cpu/quant_dot_simd.inc"
#include "kernels/cpu/quant_dot_repack.inc"

const Kernels& avx512vnni_kernels() {
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

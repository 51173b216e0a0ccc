// AVX-VNNI dot products (quant_dot_simd.inc): vpdpbusd, VEX-encoded 256-bit (Alder Lake and later
// without AVX-512). A CPU with only AVX512-VNNI cannot run this file's code: its tests run where
// cpuid reports avxvnni; the same source is tested here through quant_dot_avx512vnni.cpp, which
// differs only in the encoding of the one instruction.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/quant_act.h"
#include "kernels/cpu/quant_dot.h"

// GCC and clang spell "compile what follows for these features" differently.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avxvnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avxvnni")
#endif
#include "kernels/cpu/quant_tile_loop.h"

namespace zip::cpu::qdot {
namespace {
constexpr int kTileMR = 2;  // x rows per tile: 16 vector registers
constexpr bool kDotExact = true;  // vpdpbusd: no intermediate saturation (quant_dot_repack.inc)
inline __m256i dot(__m256i acc, __m256i u, __m256i s) { return _mm256_dpbusd_avx_epi32(acc, u, s); }
// Scaled: maddubs + madd against the scales (one instruction fewer than vpdpbusd + vpmulld).
inline __m256i dot_scaled(__m256i acc, __m256i u, __m256i s, __m256i c) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), c));
}
}  // namespace
#include "kernels/cpu/quant_dot_simd.inc"
#include "kernels/cpu/quant_dot_repack.inc"

const Kernels& avxvnni_kernels() {
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

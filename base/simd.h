// The SIMD vocabulary of the CPU kernels: one float vector type per ISA (AVX-512 with BW/VL,
// AVX2+FMA+F16C, or a 1-wide scalar fallback for PORTABLE builds) and loads that widen
// f16/bf16 weights to f32 on the fly. Kernels are written once against these.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "base/float16.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define ZIP_SIMD_AVX512 1
// GCC 12's AVX-512 headers build results from _mm512_undefined_*(), which -Wuninitialized
// flags once inlined (a known false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define ZIP_SIMD_AVX2 1
#include <immintrin.h>
#endif

namespace zip::simd {

// Tag types so f16 and bf16 weight pointers select different loads.
struct f16 { uint16_t bits; };
struct bf16 { uint16_t bits; };

inline float to_float(float v) { return v; }
inline float to_float(f16 v) { return f16_to_f32(v.bits); }
inline float to_float(bf16 v) { return bf16_to_f32(v.bits); }

#if ZIP_SIMD_AVX512
constexpr int W = 16;
using vf = __m512;
inline vf zero() { return _mm512_setzero_ps(); }
inline vf set1(float v) { return _mm512_set1_ps(v); }
inline vf load(const float* p) { return _mm512_loadu_ps(p); }
inline vf load(const f16* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
inline vf load(const bf16* p) {
  __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
// Loads of the first n < W elements, the rest zero.
inline __mmask16 tail_mask(int n) { return __mmask16((1u << n) - 1u); }
inline vf load_n(const float* p, int n) { return _mm512_maskz_loadu_ps(tail_mask(n), p); }
inline vf load_n(const f16* p, int n) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(tail_mask(n), p)); }
inline vf load_n(const bf16* p, int n) {
  __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(tail_mask(n), p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
inline void store(float* p, vf v) { _mm512_storeu_ps(p, v); }
inline void store_n(float* p, vf v, int n) { _mm512_mask_storeu_ps(p, tail_mask(n), v); }
inline vf fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
inline vf add(vf a, vf b) { return _mm512_add_ps(a, b); }
inline vf mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
inline vf max(vf a, vf b) { return _mm512_max_ps(a, b); }
inline float hsum(vf v) { return _mm512_reduce_add_ps(v); }
inline float hmax(vf v) { return _mm512_reduce_max_ps(v); }
#elif ZIP_SIMD_AVX2
constexpr int W = 8;
using vf = __m256;
inline vf zero() { return _mm256_setzero_ps(); }
inline vf set1(float v) { return _mm256_set1_ps(v); }
inline vf load(const float* p) { return _mm256_loadu_ps(p); }
inline vf load(const f16* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
inline vf load(const bf16* p) {
  __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
template <typename T>
inline vf load_n(const T* p, int n) {
  alignas(32) float tmp[8] = {};
  for (int i = 0; i < n; i++) tmp[i] = to_float(p[i]);
  return _mm256_load_ps(tmp);
}
inline void store(float* p, vf v) { _mm256_storeu_ps(p, v); }
inline void store_n(float* p, vf v, int n) {
  alignas(32) float tmp[8];
  _mm256_store_ps(tmp, v);
  for (int i = 0; i < n; i++) p[i] = tmp[i];
}
inline vf fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
inline vf add(vf a, vf b) { return _mm256_add_ps(a, b); }
inline vf mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
inline vf max(vf a, vf b) { return _mm256_max_ps(a, b); }
inline float hsum(vf v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
inline float hmax(vf v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
#else
constexpr int W = 1;
using vf = float;
inline vf zero() { return 0.0f; }
inline vf set1(float v) { return v; }
template <typename T> inline vf load(const T* p) { return to_float(*p); }
template <typename T> inline vf load_n(const T* p, int n) { return n > 0 ? to_float(*p) : 0.0f; }
inline void store(float* p, vf v) { *p = v; }
inline void store_n(float* p, vf v, int n) { if (n > 0) *p = v; }
inline vf fma(vf a, vf b, vf c) { return a * b + c; }
inline vf add(vf a, vf b) { return a + b; }
inline vf mul(vf a, vf b) { return a * b; }
inline vf max(vf a, vf b) { return a > b ? a : b; }
inline float hsum(vf v) { return v; }
inline float hmax(vf v) { return v; }
#endif

// e^x, vectorised: range reduction x = n·ln2 + r, |r| ≤ ln2/2, a degree-6 polynomial for e^r
// (Cephes expf coefficients), then scaling by 2^n. Max relative error ≈ 2 ulp; inputs below
// -87 clamp (the result is < 1.2e-38, i.e. nothing next to the max of a softmax).
#if ZIP_SIMD_AVX512 || ZIP_SIMD_AVX2
inline vf exp(vf x) {
  x = max(x, set1(-87.3f));
#if ZIP_SIMD_AVX512
  x = _mm512_min_ps(x, set1(88.7f));
  vf n = _mm512_roundscale_ps(mul(x, set1(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#else
  x = _mm256_min_ps(x, set1(88.7f));
  vf n = _mm256_round_ps(mul(x, set1(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
#endif
  vf r = fma(n, set1(-0.693359375f), x);
  r = fma(n, set1(2.12194440e-4f), r);
  vf p = set1(1.9875691500e-4f);
  p = fma(p, r, set1(1.3981999507e-3f));
  p = fma(p, r, set1(8.3334519073e-3f));
  p = fma(p, r, set1(4.1665795894e-2f));
  p = fma(p, r, set1(1.6666665459e-1f));
  p = fma(p, r, set1(5.0000001201e-1f));
  vf y = add(fma(mul(p, r), r, r), set1(1.0f));
#if ZIP_SIMD_AVX512
  return _mm512_scalef_ps(y, n);
#else
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return mul(y, _mm256_castsi256_ps(e));
#endif
}
#else
inline vf exp(vf x) { return std::exp(x); }
#endif

// Dot product of n floats with n weights of type T.
template <typename T>
inline float dot(const float* x, const T* w, int n) {
  vf acc0 = zero(), acc1 = zero();
  int k = 0;
  for (; k + 2 * W <= n; k += 2 * W) {
    acc0 = fma(load(x + k), load(w + k), acc0);
    acc1 = fma(load(x + k + W), load(w + k + W), acc1);
  }
  for (; k + W <= n; k += W) acc0 = fma(load(x + k), load(w + k), acc0);
  if (k < n) acc1 = fma(load_n(x + k, n - k), load_n(w + k, n - k), acc1);
  return hsum(add(acc0, acc1));
}

// y[i] += a * x[i]
inline void axpy(float* y, float a, const float* x, int n) {
  vf va = set1(a);
  int k = 0;
  for (; k + W <= n; k += W) store(y + k, fma(va, load(x + k), load(y + k)));
  if (k < n) store_n(y + k, fma(va, load_n(x + k, n - k), load_n(y + k, n - k)), n - k);
}

// max over x[0..n)
inline float max_of(const float* x, int n) {
  vf m = set1(-INFINITY);
  int k = 0;
  for (; k + W <= n; k += W) m = max(m, load(x + k));
  float r = hmax(m);
  for (; k < n; k++) r = x[k] > r ? x[k] : r;
  return r;
}

// x[i] = e^(x[i] - shift) in place; returns the sum.
inline float exp_shift_sum(float* x, int n, float shift) {
  vf vs = set1(shift), acc = zero();
  int k = 0;
  for (; k + W <= n; k += W) {
    vf e = exp(add(load(x + k), set1(-shift)));
    store(x + k, e);
    acc = add(acc, e);
  }
  (void)vs;
  float sum = hsum(acc);
  for (; k < n; k++) sum += (x[k] = std::exp(x[k] - shift));
  return sum;
}

}  // namespace zip::simd

// Peak FLOP/s microbenchmark (peak_flops.h).
//
// Expected f32 figure, from /proc/cpuinfo: cores × GHz × FMA issue per cycle × lanes × 2. On the
// development VM (AMD EPYC Zen 4, 2 cores, 2.6 GHz nominal): Zen 4 has two 256-bit FMA pipes and
// a 512-bit FMA takes both, so one 16-lane FMA per cycle: 2.6 GHz × 16 × 2 = 83 GFLOP/s per core
// at the nominal clock; measured 109 GFLOP/s on 1 thread, i.e. the core boosts to ~3.4 GHz.
// vdpbf16ps issues at the same rate with twice the FLOP per instruction: measured 219 GFLOP/s on
// 1 thread. A shared VM measures less on N threads when its neighbours are busy.
#include "kernels/cpu/peak_flops.h"

#include <chrono>
#include <cstdint>
#include <vector>

#include "base/simd.h"
#include "base/stats.h"
#include "base/thread_pool.h"
#include "base/stopwatch.h"

namespace zip::cpu {

namespace {

// Independent accumulators: enough to cover FMA latency × issue width (Zen 4 / Skylake: 4 × 2),
// few enough to stay in registers (AVX2 has 16 vector registers, AVX-512 32).
#if ZIP_SIMD_AVX512
constexpr int kChains = 16;
constexpr const char* kIsa = "avx512";
#elif ZIP_SIMD_AVX2
constexpr int kChains = 12;
constexpr const char* kIsa = "avx2";
#else
constexpr int kChains = 8;
constexpr const char* kIsa = "scalar";
#endif

volatile float g_mul = 0.99999994f, g_add = 1e-7f;  // volatile: the compiler cannot fold the chains
volatile float g_sink = 0;

// `iters` rounds of kChains FMAs; returns FLOP done.
double fma_f32(int64_t iters) {
  simd::vf acc[kChains];
  const simd::vf m = simd::set1(g_mul), c = simd::set1(g_add);
  for (int i = 0; i < kChains; i++) acc[i] = simd::set1(float(i));
  for (int64_t it = 0; it < iters; it++)
    for (int i = 0; i < kChains; i++) acc[i] = simd::fma(acc[i], m, c);
  simd::vf s = acc[0];
  for (int i = 1; i < kChains; i++) s = simd::add(s, acc[i]);
  g_sink = simd::hsum(s);
  return double(iters) * kChains * simd::W * 2.0;
}

#if defined(__AVX512BF16__) && ZIP_SIMD_AVX512
constexpr bool kHasBf16 = true;
double dot_bf16(int64_t iters) {
  __m512 acc[kChains];
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(g_add), _mm512_set1_ps(g_add));
  const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(g_mul), _mm512_set1_ps(g_mul));
  for (int i = 0; i < kChains; i++) acc[i] = _mm512_set1_ps(float(i));
  for (int64_t it = 0; it < iters; it++)
    for (int i = 0; i < kChains; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  __m512 s = acc[0];
  for (int i = 1; i < kChains; i++) s = _mm512_add_ps(s, acc[i]);
  g_sink = _mm512_reduce_add_ps(s);
  return double(iters) * kChains * 32 * 2.0;  // 32 bf16 products, a multiply and an add each
}
#else
constexpr bool kHasBf16 = false;
double dot_bf16(int64_t) { return 0; }
#endif

using Kernel = double (*)(int64_t);

// Iterations for one run of ~run_ms on one thread.
int64_t calibrate(Kernel k, double run_ms) {
  int64_t iters = 1 << 12;
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    k(iters);
    double s = seconds_since(t0);
    if (s > 2e-3 || iters > (int64_t(1) << 34)) return std::max<int64_t>(1, int64_t(double(iters) * run_ms * 1e-3 / s));
    iters *= 4;
  }
}

// The fastest of `reps` runs of `iters` rounds on every thread of the pool (one untimed first): a
// peak is what the units can do; a slower run met a neighbour or a clock still ramping up (a
// median of 8 ms runs once put the peak below what a training loop then sustained: MFU 106 %).
double measure(ThreadPool& pool, Kernel k, int64_t iters, int reps) {
  std::vector<double> rates;
  for (int r = 0; r <= reps; r++) {
    std::vector<double> flop(size_t(pool.size()), 0.0);
    auto t0 = std::chrono::steady_clock::now();
    pool.run([&](int t, int) { flop[size_t(t)] = k(iters); });
    double s = seconds_since(t0), total = 0;
    for (double f : flop) total += f;
    if (r > 0 && s > 0) rates.push_back(total / s);
  }
  double best = 0;
  for (double r : rates) best = r > best ? r : best;
  return best;
}

}  // namespace

PeakFlops measure_peak_flops(const PeakOptions& o) {
  PeakFlops p;
  p.isa = kIsa, p.threads = o.threads < 1 ? 1 : o.threads;
  ThreadPool one(1), all(p.threads);
  int64_t iters = calibrate(fma_f32, o.run_ms);
  if (o.single_thread) p.f32_1t = measure(one, fma_f32, iters, o.reps);
  p.f32_nt = measure(all, fma_f32, iters, o.reps);
  if (kHasBf16 && o.bf16) {
    int64_t bi = calibrate(dot_bf16, o.run_ms);
    if (o.single_thread) p.bf16_1t = measure(one, dot_bf16, bi, o.reps);
    p.bf16_nt = measure(all, dot_bf16, bi, o.reps);
  }
  return p;
}

}  // namespace zip::cpu

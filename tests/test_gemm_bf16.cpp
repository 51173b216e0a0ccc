// The bf16 GEMM (kernels/cpu/gemm_bf16.h) against a float64 product of the bf16-rounded
// operands: the only error left is the f32 accumulation, so the bound is tight.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "base/float16.h"
#include "kernels/cpu/gemm_bf16.h"

namespace {

using zip::cpu::Bf16Kernel;
using zip::cpu::Strides;

float round_bf16(float x) { return zip::bf16_to_f32(zip::f32_to_bf16(x)); }

struct Case {
  int M, N, K;
  bool ta, tb, accumulate, bias;
};

// Runs gemm_bf16 with the given kernel and threads; returns C.
std::vector<float> run(const Case& c, Bf16Kernel kernel, int threads, bool prepacked, const std::vector<float>& A,
                       const std::vector<float>& B, const std::vector<float>& C0, const std::vector<float>& bias) {
  const Strides sa = c.ta ? Strides{1, size_t(c.M)} : Strides{size_t(c.K), 1};
  const Strides sb = c.tb ? Strides{1, size_t(c.K)} : Strides{size_t(c.N), 1};
  zip::ThreadPool pool(threads);
  std::vector<float> C = C0;
  const float* b = c.bias ? bias.data() : nullptr;
  if (prepacked) {
    zip::cpu::PackedB pb;
    zip::cpu::pack_b_bf16(&pool, pb, B.data(), sb, c.K, c.N);
    zip::cpu::gemm_bf16(&pool, C.data(), size_t(c.N), A.data(), sa, pb, c.M, c.accumulate, b, kernel);
  } else {
    zip::cpu::gemm_bf16(&pool, C.data(), size_t(c.N), A.data(), sa, B.data(), sb, c.M, c.N, c.K, c.accumulate, b,
                        kernel);
  }
  return C;
}

// Max over elements of |C - ref| / (|start| + Σ_k |a·b|) against the float64 product of the
// bf16-rounded operands; also checks thread-count and pre-packing invariance.
double bf16_error(const Case& c, Bf16Kernel kernel, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> d;
  std::vector<float> A(size_t(c.M) * c.K), B(size_t(c.K) * c.N), C0(size_t(c.M) * c.N), bias(size_t(c.N));
  for (auto* v : {&A, &B, &C0, &bias})
    for (float& x : *v) x = float(d(rng));
  const size_t ars = c.ta ? 1 : size_t(c.K), acs = c.ta ? size_t(c.M) : 1;
  const size_t brs = c.tb ? 1 : size_t(c.N), bcs = c.tb ? size_t(c.K) : 1;
  std::vector<float> C1 = run(c, kernel, 1, false, A, B, C0, bias);
  CHECK(run(c, kernel, 2, false, A, B, C0, bias) == C1);
  CHECK(run(c, kernel, 2, true, A, B, C0, bias) == C1);
  double worst = 0;
  for (int i = 0; i < c.M; i++)
    for (int j = 0; j < c.N; j++) {
      double start = c.accumulate ? C0[size_t(i) * c.N + j] : c.bias ? bias[size_t(j)] : 0.0, ref = start;
      double mag = std::fabs(start);
      for (int k = 0; k < c.K; k++) {
        double p = double(round_bf16(A[i * ars + k * acs])) * double(round_bf16(B[k * brs + j * bcs]));
        ref += p, mag += std::fabs(p);
      }
      double err = std::fabs(double(C1[size_t(i) * c.N + j]) - ref) / (mag > 0 ? mag : 1.0);
      worst = std::max(worst, err);
    }
  return worst;
}

std::vector<Bf16Kernel> kernels() {
  std::vector<Bf16Kernel> k{Bf16Kernel::portable};
  if (zip::cpu::bf16_native_kernel()) k.push_back(Bf16Kernel::native);
  return k;
}

}  // namespace

TEST_CASE("gemm bf16: against float64 on bf16-rounded operands, odd shapes, transposed operands, bias, accumulate") {
  uint32_t seed = 7;
  // Odd M, N, K leave partial tiles, panels and a half-empty last pair; K > 256 crosses K blocks.
  for (auto [M, N, K] : {std::tuple{1, 1, 1}, {7, 5, 3}, {9, 33, 17}, {13, 31, 64}, {37, 70, 300}, {70, 9, 521}})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (int mode = 0; mode < 3; mode++)  // plain, bias, accumulate
          for (Bf16Kernel kernel : kernels()) {
            Case c{M, N, K, ta, tb, mode == 2, mode == 1};
            INFO("M " << M << " N " << N << " K " << K << " transA " << ta << " transB " << tb << " mode " << mode
                      << " native " << (kernel == Bf16Kernel::native));
            // f32 accumulation of K exact products: at most ~K roundings of 2^-24 relative to Σ|a·b|.
            CHECK(bf16_error(c, kernel, seed++) < (K + 2) * 0x1p-24);
          }
}

TEST_CASE("gemm bf16: inputs are rounded to bf16 (not truncated), nearest even") {
  // 1 + 2^-8 + 2^-9 rounds up to 1 + 2^-7; 1 + 2^-8 is a tie and rounds to even (1).
  for (Bf16Kernel kernel : kernels()) {
    std::vector<float> a{1.0f + 0x1p-8f + 0x1p-9f, 1.0f + 0x1p-8f}, b{1.0f, 1.0f}, c(1, 0.0f);
    zip::cpu::gemm_bf16(nullptr, c.data(), 1, a.data(), Strides{2, 1}, b.data(), Strides{1, 1}, 1, 1, 2, false, nullptr,
                        kernel);
    CHECK(c[0] == 1.0f + 0x1p-7f + 1.0f);
  }
}

TEST_CASE("gemm bf16: the native and the portable kernel agree bit for bit (normal numbers)") {
  if (!zip::cpu::bf16_native_kernel()) {
    MESSAGE("skipped: this build has no AVX512_BF16 kernel");
    return;
  }
  std::mt19937 rng(3);
  std::normal_distribution<float> d;
  const int M = 19, N = 45, K = 301;
  std::vector<float> A(size_t(M) * K), B(size_t(K) * N), bias(static_cast<size_t>(N));
  for (auto* v : {&A, &B, &bias})
    for (float& x : *v) x = d(rng);
  Case c{M, N, K, false, true, false, true};
  std::vector<float> C0(size_t(M) * N);
  CHECK(run(c, Bf16Kernel::native, 2, false, A, B, C0, bias) == run(c, Bf16Kernel::portable, 2, false, A, B, C0, bias));
}

// Host memory, f16 conversions, the vectorised exp and the GEMM core. The op-by-op comparisons
// of every backend with the reference are the table in test_backend_ops.cpp.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <random>

#include "base/thread_pool.h"
#include "engine/host_memory.h"
#include "engine/tensor.h"
#include "kernels/cpu/gemm.h"
#include "tests/test_util.h"

using namespace zip;

TEST_CASE("host memory: zeroed, cache-line aligned, large blocks 2 MiB aligned") {
  for (size_t n : {size_t(0), size_t(1), size_t(100), size_t(4096), size_t(1) << 20, (size_t(3) << 20) + 5}) {
    auto* p = static_cast<unsigned char*>(host_alloc_zeroed(n));
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
    if (n >= (size_t(1) << 20)) CHECK(reinterpret_cast<uintptr_t>(p) % (size_t(2) << 20) == 0);
    bool zero = true;
    for (size_t i = 0; i < n; i++) zero &= p[i] == 0;
    CHECK(zero);
    host_free(p);
  }
  CHECK(reinterpret_cast<uintptr_t>(Tensor::zeros(DType::F32, {3, 5}).data) % 64 == 0);
}

// Resident set size in bytes (Linux), or -1 where /proc is unavailable.
static long long resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return -1;
  long long pages = 0, resident = -1;
  if (std::fscanf(f, "%lld %lld", &pages, &resident) != 2) resident = -1;
  std::fclose(f);
  return resident < 0 ? -1 : resident * 4096;
}

TEST_CASE("host memory: a large block costs resident memory only where it is written") {
  const long long before = resident_bytes();
  if (before < 0) return;  // no /proc: nothing to observe
  const size_t n = size_t(256) << 20;
  auto* p = static_cast<unsigned char*>(host_alloc_zeroed(n));
  const long long untouched = resident_bytes() - before;
  CHECK(untouched < (16LL << 20));  // a memset block would add 256 MiB here
  std::memset(p, 1, size_t(8) << 20);
  CHECK(p[(size_t(8) << 20) - 1] == 1);
  CHECK(p[n - 1] == 0);  // still zero, and readable without a fault
  host_free(p);
}

TEST_CASE("dtype: f16 conversions are exact round trips and round to nearest even") {
  for (uint32_t h = 0; h < 65536; h++) {
    float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    CHECK(f32_to_f16(f) == h);
  }
  CHECK(f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00);  // tie rounds to even (down)
  CHECK(f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);  // tie rounds to even (up)
  CHECK(f32_to_f16(65520.0f) == 0x7c00);            // rounds to inf
  CHECK(f32_to_f16(65519.0f) == 0x7bff);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(f32_to_bf16(1.0f) == 0x3f80);
  CHECK(f32_to_bf16(bits_f32(0x3f808000)) == 0x3f80);  // tie to even
  CHECK(f32_to_bf16(bits_f32(0x3f818000)) == 0x3f82);
  CHECK(bf16_to_f32(0x4049) == bits_f32(0x40490000));
}

#include "base/simd.h"

TEST_CASE("kernels: vectorised exp is within a few ulp of libm") {
  std::vector<float> x;
  for (float v = -90.0f; v <= 88.0f; v += 0.0137f) x.push_back(v);
  std::vector<float> y = x;
  float shift = 0.0f;
  zip::simd::exp_shift_sum(y.data(), int(y.size()), shift);
  double worst = 0;
  for (size_t i = 0; i < x.size(); i++) {
    double ref = std::exp(double(x[i]));
    if (x[i] < -87.0f) continue;  // clamped region: result below FLT_MIN
    worst = std::max(worst, std::fabs(y[i] - ref) / ref);
  }
  CHECK(worst < 4e-7);
}


namespace {

// C (+)= op(A)·op(B) (+ bias) through the GEMM core against a float64 triple loop; transposed
// operands by strides. Returns max |C - ref| / max |ref|, and checks that 1 and 2 threads agree
// bit for bit.
template <typename T>
double gemm_error(int M, int N, int K, bool trans_a, bool trans_b, bool accumulate, bool with_bias, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> d;
  std::vector<T> A(size_t(M) * K), B(size_t(K) * N), C0(size_t(M) * N), bias(static_cast<size_t>(N));
  for (auto* v : {&A, &B, &C0, &bias})
    for (T& x : *v) x = T(d(rng));
  const zip::cpu::Strides sa = trans_a ? zip::cpu::Strides{1, size_t(M)} : zip::cpu::Strides{size_t(K), 1};
  const zip::cpu::Strides sb = trans_b ? zip::cpu::Strides{1, size_t(K)} : zip::cpu::Strides{size_t(N), 1};
  std::vector<double> ref(C0.size());
  for (int i = 0; i < M; i++)
    for (int j = 0; j < N; j++) {
      double acc = accumulate ? double(C0[size_t(i) * N + j]) : with_bias ? double(bias[size_t(j)]) : 0.0;
      for (int k = 0; k < K; k++) acc += double(A[i * sa.rs + k * sa.cs]) * double(B[k * sb.rs + j * sb.cs]);
      ref[size_t(i) * N + j] = acc;
    }
  std::vector<T> C1 = C0, C2 = C0;
  zip::ThreadPool one(1), two(2);
  zip::cpu::gemm<T>(&one, C1.data(), size_t(N), A.data(), sa, B.data(), sb, M, N, K, accumulate,
                    with_bias ? bias.data() : nullptr);
  zip::cpu::gemm<T>(&two, C2.data(), size_t(N), A.data(), sa, B.data(), sb, M, N, K, accumulate,
                    with_bias ? bias.data() : nullptr);
  CHECK(C1 == C2);
  double err = 0, mx = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    err = std::max(err, std::fabs(double(C1[i]) - ref[i]));
    mx = std::max(mx, std::fabs(ref[i]));
  }
  return mx > 0 ? err / mx : err;
}

}  // namespace

TEST_CASE("kernels: the GEMM core (float, double) against float64, transposed operands, accumulate, bias") {
  uint32_t seed = 1;
  // K·N large enough for the panel-major tile order and K blocks (K > 256), and small shapes
  // that take the row-major order; odd sizes leave partial tiles and panels.
  for (auto [M, N, K] : {std::tuple{1, 1, 1}, {7, 5, 3}, {13, 17, 64}, {6, 33, 8}, {37, 300, 300}, {70, 9, 520}})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (int mode = 0; mode < 3; mode++) {  // plain, bias, accumulate
          INFO("M " << M << " N " << N << " K " << K << " transA " << ta << " transB " << tb << " mode " << mode);
          CHECK(gemm_error<double>(M, N, K, ta, tb, mode == 2, mode == 1, seed++) < 1e-14 * K + 1e-15);
          CHECK(gemm_error<float>(M, N, K, ta, tb, mode == 2, mode == 1, seed++) < 1e-7 * K + 1e-6);
        }
}

// The fast CPU kernels against the scalar reference backend, on odd shapes and every weight type.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <random>

#include "engine/backend.h"
#include "engine/host_memory.h"
#include "engine/tensor.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

std::vector<float> randv(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

struct Backends {
  std::unique_ptr<Backend> ref = make_ref_backend();
  std::unique_ptr<Backend> cpu1 = make_cpu_backend(1);
  std::unique_ptr<Backend> cpu2 = make_cpu_backend(2);
};

}  // namespace

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

TEST_CASE("kernels: matmul matches the reference for every weight dtype and odd shapes") {
  Backends b;
  std::mt19937 rng(7);
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (int M : {1, 3, 4, 5, 17})
      for (int N : {1, 7, 8, 33, 130})
        for (int K : {1, 5, 16, 17, 64, 173}) {
          Tensor W = Tensor::from_floats(randv(size_t(N) * K, rng), {N, K}, dt);
          auto x = randv(size_t(M) * K, rng);
          auto bias = randv(size_t(N), rng);
          for (const float* bp : {(const float*)nullptr, (const float*)bias.data()}) {
            std::vector<float> yr(size_t(M) * N), y1(yr.size()), y2(yr.size());
            b.ref->matmul(yr.data(), x.data(), W, bp, M);
            b.cpu1->matmul(y1.data(), x.data(), W, bp, M);
            b.cpu2->matmul(y2.data(), x.data(), W, bp, M);
            INFO("dtype " << dtype_name(dt) << " M " << M << " N " << N << " K " << K);
            CHECK(ztest::max_rel_err(y1, yr) < 2e-6 * std::sqrt(double(K)) + 1e-6);
            CHECK(ztest::max_rel_err(y2, yr) < 2e-6 * std::sqrt(double(K)) + 1e-6);
          }
        }
}

TEST_CASE("kernels: large threaded matmul matches the reference") {
  Backends b;
  std::mt19937 rng(8);
  int M = 37, N = 517, K = 300;
  Tensor W = Tensor::from_floats(randv(size_t(N) * K, rng), {N, K}, DType::BF16);
  auto x = randv(size_t(M) * K, rng);
  std::vector<float> yr(size_t(M) * N), y2(yr.size());
  b.ref->matmul(yr.data(), x.data(), W, nullptr, M);
  b.cpu2->matmul(y2.data(), x.data(), W, nullptr, M);
  CHECK(ztest::max_rel_err(y2, yr) < 5e-5);
}

TEST_CASE("kernels: norms, activations, softmax, rope, embedding match the reference") {
  Backends b;
  std::mt19937 rng(9);
  for (int D : {1, 7, 64, 173}) {
    int M = 5;
    auto x = randv(size_t(M) * D, rng, 3.0f), w = randv(size_t(D), rng), bias = randv(size_t(D), rng);
    std::vector<float> yr(x.size()), yc(x.size());
    b.ref->rmsnorm(yr.data(), x.data(), w.data(), M, D, 1e-5f);
    b.cpu2->rmsnorm(yc.data(), x.data(), w.data(), M, D, 1e-5f);
    CHECK(ztest::max_rel_err(yc, yr) < 1e-6);
    b.ref->layernorm(yr.data(), x.data(), w.data(), bias.data(), M, D, 1e-12f);
    b.cpu2->layernorm(yc.data(), x.data(), w.data(), bias.data(), M, D, 1e-12f);
    CHECK(ztest::max_rel_err(yc, yr) < 1e-6);
    b.ref->swiglu(yr.data(), x.data(), w.data(), size_t(D));
    b.cpu2->swiglu(yc.data(), x.data(), w.data(), size_t(D));
    yr.resize(size_t(D)), yc.resize(size_t(D));
    CHECK(ztest::max_rel_err(yc, yr) < 1e-6);
    yr.resize(x.size()), yc.resize(x.size());
    for (GeluKind k : {GeluKind::Tanh, GeluKind::Erf}) {
      b.ref->gelu(yr.data(), x.data(), x.size(), k);
      b.cpu2->gelu(yc.data(), x.data(), x.size(), k);
      CHECK(ztest::max_rel_err(yc, yr) < 1e-6);
    }
    yr = x, yc = x;
    b.ref->softmax(yr.data(), M, D);
    b.cpu2->softmax(yc.data(), M, D);
    CHECK(ztest::max_rel_err(yc, yr) < 1e-6);
  }
  // RoPE at large positions: angles must not lose precision.
  int M = 3, H = 5, hd = 24;
  auto x = randv(size_t(M) * H * hd, rng);
  std::vector<int> pos = {0, 17, 4000};
  auto yr = x, yc = x;
  b.ref->rope(yr.data(), M, H, hd, pos.data(), 10000.0f);
  b.cpu2->rope(yc.data(), M, H, hd, pos.data(), 10000.0f);
  CHECK(ztest::max_rel_err(yc, yr) < 1e-6);
  // Embedding from a bf16 table.
  Tensor table = Tensor::from_floats(randv(50 * 9, rng), {50, 9}, DType::BF16);
  std::vector<int> ids = {0, 49, 7};
  std::vector<float> er(3 * 9), ec(3 * 9);
  b.ref->embedding(er.data(), table, ids.data(), 3);
  b.cpu2->embedding(ec.data(), table, ids.data(), 3);
  CHECK(er == ec);
}

TEST_CASE("kernels: attention with uneven GQA groups over a KV cache matches the reference") {
  Backends b;
  std::mt19937 rng(10);
  for (int hd : {8, 24, 64}) {
    std::vector<int> kv_of_q = {0, 0, 0, 1, 2, 2};  // groups of 3, 1 and 2 query heads
    int n_kv = 3, nq = 6, ctx = 40, pos0 = 11, M = 7;
    size_t stride = size_t(ctx) * hd;  // floats per KV head
    auto kc = randv(n_kv * stride, rng), vc = randv(n_kv * stride, rng);
    auto q = randv(size_t(M) * nq * hd, rng);
    AttentionArgs a;
    a.n_tokens = M, a.pos0 = pos0, a.n_heads = nq, a.head_dim = hd, a.kv_of_q = kv_of_q.data();
    a.cache_len = ctx, a.scale = 1.0f / std::sqrt(float(hd));
    std::vector<float> yr(q.size()), y1(q.size()), y2(q.size());
    b.ref->attention(yr.data(), q.data(), kc.data(), vc.data(), a);
    b.cpu1->attention(y1.data(), q.data(), kc.data(), vc.data(), a);
    b.cpu2->attention(y2.data(), q.data(), kc.data(), vc.data(), a);
    CHECK(ztest::max_rel_err(y1, yr) < 2e-6);
    CHECK(ztest::max_rel_err(y2, yr) < 2e-6);
    // kv_store writes rows at the right positions.
    auto kx = randv(size_t(M) * n_kv * hd, rng);
    auto c1 = kc, c2 = kc;
    b.ref->kv_store(c1.data(), kx.data(), M, n_kv, hd, pos0, ctx);
    b.cpu2->kv_store(c2.data(), kx.data(), M, n_kv, hd, pos0, ctx);
    CHECK(c1 == c2);
    // token 2, KV head 1, channel 3 lands at position pos0+2 of row (1*hd + 3)
    CHECK(c1[(size_t(hd) + 3) * ctx + size_t(pos0 + 2)] == kx[(2 * n_kv + 1) * hd + 3]);
  }
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

// The CUDA backend against the scalar reference, op by op, on odd shapes, every weight dtype,
// uneven GQA groups, causal and bidirectional attention. Tolerances are relative L2 errors:
// 1e-5 for f32, 1e-2 for f16/bf16 weights (x is rounded to the weight type on the GPU).
// Without a usable GPU (or in a build without CUDA) every case passes with a visible MESSAGE.
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include <unistd.h>

#include "engine/backend.h"
#include "engine/backend_registry.h"
#include "engine/cuda.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

// Ends the test case (passing) when there is no GPU to test on.
#define CUDA_OR_SKIP()                                          \
  std::string why_no_cuda;                                      \
  if (!cuda_available(&why_no_cuda)) {                          \
    MESSAGE("skipped: no CUDA GPU (" << why_no_cuda << ")");    \
    return;                                                     \
  }

std::vector<float> randv(size_t n, std::mt19937& rng, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Device floats with host copies in and out. `pad` extra leading floats let a test pass
// pointers that are only 4-byte aligned (get() + 1).
struct Dev {
  std::shared_ptr<void> mem;
  size_t n = 0;
  explicit Dev(size_t count, size_t pad = 0) : mem(cuda_alloc((count + pad) * sizeof(float))), n(count + pad) {}
  explicit Dev(const std::vector<float>& h) : Dev(h.size()) { cuda_to_device(mem.get(), h.data(), h.size() * sizeof(float)); }
  float* get() { return static_cast<float*>(mem.get()); }
  std::vector<float> host(size_t offset = 0) const {
    std::vector<float> h(n - offset);
    cuda_to_host(h.data(), static_cast<const float*>(mem.get()) + offset, h.size() * sizeof(float));
    return h;
  }
};

// ‖a - ref‖ / ‖ref‖ (‖a - ref‖ when ref is 0); infinite if a has a non-finite value.
double rel_l2(const std::vector<float>& a, const std::vector<float>& ref) {
  REQUIRE(a.size() == ref.size());
  double d = 0, r = 0;
  for (size_t i = 0; i < a.size(); i++) {
    if (!std::isfinite(a[i])) return std::numeric_limits<double>::infinity();
    d += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
    r += double(ref[i]) * ref[i];
  }
  return r > 0 ? std::sqrt(d / r) : std::sqrt(d);
}

double tolerance(DType weights) { return weights == DType::F32 ? 1e-5 : 1e-2; }

}  // namespace

TEST_CASE("cuda: without a GPU the entry points fail cleanly") {
  std::string why;
  if (cuda_available(&why)) {
    MESSAGE("a CUDA GPU is present; nothing to check here");
    return;
  }
  CHECK(!why.empty());
  CHECK_THROWS_AS(make_cuda_backend(0), Error);
}

// The zip binary beside this test binary (build-cuda/zip beside build-cuda/zip_tests), else $ZIP_BIN.
static std::string sibling_zip() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    std::string self(buf, size_t(n));
    std::string zip = self.substr(0, self.rfind('/') + 1) + "zip";
    if (::access(zip.c_str(), X_OK) == 0) return zip;
  }
  return ztest::zip_bin();
}

TEST_CASE("cuda: a CUDA build without a GPU says no CUDA device or driver was found, in one line, exit 1") {
#ifndef ZIP_CUDA
  MESSAGE("skipped: this build has no CUDA backend (make CUDA=1 BUILD=build-cuda); the CPU build's message is "
          "checked by 'cli: --device is parsed the same way by run, bench and eval'");
  return;
#endif
  std::string why;
  if (cuda_available(&why)) {
    MESSAGE("skipped: a CUDA GPU is present, so there is no missing-device message to check");
    return;
  }
  CHECK(why.find("no CUDA device") != std::string::npos);
  CHECK(why.find('\n') == std::string::npos);
  for (const char* dev : {"cuda", "cuda:1"}) {
    INFO(dev);
    try {
      make_backend(dev, 1);
      FAIL("make_backend(cuda) succeeded without a GPU");
    } catch (const UsageError&) {
      FAIL("a usage error for a well-formed device name");
    } catch (const Error& e) {
      CHECK(std::string(e.what()) == std::string("--device ") + dev + ": " + why);
    }
  }
  // Through the binary built with this test binary.
  std::string zip = sibling_zip();
  auto r = ztest::run_cmd("'" + zip + "' run " + ztest::shell_quote(ztest::shared("models/stories260K/stories260K.bin")) +
                          " --device cuda -n 4");
  INFO(zip);
  CHECK(r.status == 1);
  CHECK(r.out.empty());
  CHECK(r.err == "zip run: error: --device cuda: " + why + "\n");
}

TEST_CASE("cuda: memory helpers round-trip and upload tensors") {
  CUDA_OR_SKIP();
  std::mt19937 rng(1);
  Dev z(1000);
  for (float v : z.host()) REQUIRE(v == 0.0f);  // zero-filled
  auto h = randv(777, rng);
  CHECK(Dev(h).host() == h);
  for (DType dt : {DType::F32, DType::F16, DType::BF16}) {
    Tensor t = Tensor::from_floats(randv(6 * 5, rng), {6, 5}, dt);
    Tensor d = cuda_upload(t);
    CHECK(d.device == Device::CUDA);
    CHECK(d.dtype == dt);
    CHECK(d.shape == t.shape);
    std::vector<char> back(t.nbytes());
    cuda_to_host(back.data(), d.data, back.size());
    CHECK(std::memcmp(back.data(), t.data, back.size()) == 0);
  }
}

TEST_CASE("cuda: matmul matches the reference for every weight dtype, odd shapes, bias, unaligned rows") {
  CUDA_OR_SKIP();
  auto ref = make_ref_backend();
  auto gpu = make_cuda_backend(0);
  std::mt19937 rng(7);
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (int M : {1, 3, 17, 64})
      for (int N : {1, 7, 33, 130})
        for (int K : {1, 5, 16, 17, 64, 173})
          for (int variant = 0; variant < 3; variant++) {  // 0 plain, 1 bias, 2 bias + 4-byte-aligned x and y
            Tensor W = Tensor::from_floats(randv(size_t(N) * K, rng), {N, K}, dt);
            Tensor Wd = cuda_upload(W);
            auto x = randv(size_t(M) * K, rng);
            auto bias = randv(size_t(N), rng);
            const float* bp = variant ? bias.data() : nullptr;
            std::vector<float> yr(size_t(M) * N);
            ref->matmul(yr.data(), x.data(), W, bp, M);
            size_t pad = variant == 2 ? 1 : 0;
            Dev dx(x.size(), pad), dy(yr.size(), pad), db(bias);
            cuda_to_device(dx.get() + pad, x.data(), x.size() * sizeof(float));
            gpu->matmul(dy.get() + pad, dx.get() + pad, Wd, variant ? db.get() : nullptr, M);
            INFO("dtype " << dtype_name(dt) << " M " << M << " N " << N << " K " << K << " variant " << variant);
            CHECK(rel_l2(dy.host(pad), yr) <= tolerance(dt));
          }
}

TEST_CASE("cuda: large matmuls, and TF32 mode within its accuracy") {
  CUDA_OR_SKIP();
  auto ref = make_ref_backend();
  auto gpu = make_cuda_backend(0);
  CudaOptions o;
  o.tf32 = true;
  auto gpu_tf32 = make_cuda_backend(o);
  std::mt19937 rng(8);
  int M = 77, N = 1000, K = 1536;
  auto x = randv(size_t(M) * K, rng);
  auto bias = randv(size_t(N), rng);
  Dev dx(x), db(bias);
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    Tensor W = Tensor::from_floats(randv(size_t(N) * K, rng, 0.05f), {N, K}, dt);
    Tensor Wd = cuda_upload(W);
    std::vector<float> yr(size_t(M) * N);
    ref->matmul(yr.data(), x.data(), W, bias.data(), M);
    Dev dy(yr.size());
    gpu->matmul(dy.get(), dx.get(), Wd, db.get(), M);
    INFO("dtype " << dtype_name(dt));
    CHECK(rel_l2(dy.host(), yr) <= tolerance(dt));
    if (dt == DType::F32) {
      gpu_tf32->matmul(dy.get(), dx.get(), Wd, db.get(), M);
      CHECK(rel_l2(dy.host(), yr) <= 5e-3);
    }
  }
}

TEST_CASE("cuda: rmsnorm and layernorm match the reference, in place too") {
  CUDA_OR_SKIP();
  auto ref = make_ref_backend();
  auto gpu = make_cuda_backend(0);
  std::mt19937 rng(9);
  for (int M : {1, 5})
    for (int D : {1, 7, 64, 300, 4099}) {
      INFO("M " << M << " D " << D);
      auto x = randv(size_t(M) * D, rng, 3.0f);
      for (auto& v : x) v += 2.0f;  // a non-zero mean exercises LayerNorm's centring
      auto w = randv(size_t(D), rng), b = randv(size_t(D), rng);
      Dev dx(x), dw(w), db(b), dy(x.size());
      std::vector<float> yr(x.size());

      ref->rmsnorm(yr.data(), x.data(), w.data(), M, D, 1e-5f);
      gpu->rmsnorm(dy.get(), dx.get(), dw.get(), M, D, 1e-5f);
      CHECK(rel_l2(dy.host(), yr) <= 1e-5);
      for (const float* bias : {(const float*)nullptr, (const float*)b.data()}) {
        ref->layernorm(yr.data(), x.data(), w.data(), bias, M, D, 1e-5f);
        gpu->layernorm(dy.get(), dx.get(), dw.get(), bias ? db.get() : nullptr, M, D, 1e-5f);
        CHECK(rel_l2(dy.host(), yr) <= 1e-5);
      }
      gpu->layernorm(dx.get(), dx.get(), dw.get(), db.get(), M, D, 1e-5f);  // in place: yr holds the biased result
      CHECK(rel_l2(dx.host(), yr) <= 1e-5);
    }
}

TEST_CASE("cuda: rope on adjacent pairs, consecutive and scattered positions") {
  CUDA_OR_SKIP();
  auto ref = make_ref_backend();
  auto gpu = make_cuda_backend(0);
  std::mt19937 rng(10);
  for (float theta : {10000.0f, 500000.0f})
    for (int M : {1, 4, 9})
      for (int H : {1, 3})
        for (int hd : {2, 6, 64, 128})
          for (int mode = 0; mode < 3; mode++) {  // consecutive from 0, from 1000, scattered
            std::vector<int> pos(static_cast<size_t>(M));
            for (int m = 0; m < M; m++)
              pos[size_t(m)] = mode == 0 ? m : mode == 1 ? 1000 + m : int(rng() % 8000);
            auto x = randv(size_t(M) * H * hd, rng);
            Dev dx(x);
            ref->rope(x.data(), M, H, hd, pos.data(), theta);
            gpu->rope(dx.get(), M, H, hd, pos.data(), theta);
            INFO("theta " << theta << " M " << M << " H " << H << " hd " << hd << " mode " << mode);
            CHECK(rel_l2(dx.host(), x) <= 1e-5);
          }
}

TEST_CASE("cuda: kv_store and attention match the reference (decode, prefill, causal, bidirectional, uneven GQA)") {
  CUDA_OR_SKIP();
  auto ref = make_ref_backend();
  auto gpu = make_cuda_backend(0);
  std::mt19937 rng(11);
  struct Heads {
    int n_kv;
    std::vector<int> kv_of_q;
  };
  const std::vector<Heads> head_sets = {
      {1, {0}}, {4, {0, 1, 2, 3}}, {3, {0, 0, 0, 1, 2, 2, 2}}, {2, {0, 0, 0, 0, 0, 1}}};
  const int C = 70;  // cache_len
  const std::vector<std::pair<int, int>> spans = {{0, 1}, {5, 1}, {69, 1}, {0, 9}, {7, 17}, {0, 70}, {30, 33}};
  for (const Heads& hs : head_sets)
    for (int hd : {4, 32, 64, 80, 128, 256, 288})  // 288 > 256 takes the score-buffer kernel
      for (auto [pos0, n] : spans)
        for (bool causal : {true, false}) {
          const int nq = int(hs.kv_of_q.size()), nkv = hs.n_kv, T = pos0 + n;
          INFO("n_heads " << nq << " n_kv " << nkv << " hd " << hd << " pos0 " << pos0 << " n " << n << " causal "
                          << causal);
          // Caches start as NaN: reading any position that was never stored poisons the result.
          const size_t cache_floats = size_t(nkv) * hd * C;
          std::vector<float> kc(cache_floats, NAN), vc(cache_floats, NAN);
          Dev dkc(kc), dvc(kc);
          auto k = randv(size_t(T) * nkv * hd, rng), v = randv(size_t(T) * nkv * hd, rng);
          Dev dk(k), dv(v);
          // Earlier positions in one call, the new tokens in another (as prefill then decode).
          const size_t row = size_t(nkv) * hd;
          for (auto [p0, m] : {std::pair<int, int>{0, pos0}, std::pair<int, int>{pos0, n}}) {
            if (m == 0) continue;
            ref->kv_store(kc.data(), k.data() + size_t(p0) * row, m, nkv, hd, p0, C);
            ref->kv_store(vc.data(), v.data() + size_t(p0) * row, m, nkv, hd, p0, C);
            gpu->kv_store(dkc.get(), dk.get() + size_t(p0) * row, m, nkv, hd, p0, C);
            gpu->kv_store(dvc.get(), dv.get() + size_t(p0) * row, m, nkv, hd, p0, C);
          }
          auto kc_gpu = dkc.host();
          CHECK(std::memcmp(kc_gpu.data(), kc.data(), cache_floats * sizeof(float)) == 0);

          auto q = randv(size_t(n) * nq * hd, rng);
          Dev dq(q), dout(q.size());
          AttentionArgs a;
          a.n_tokens = n;
          a.pos0 = pos0;
          a.n_heads = nq;
          a.head_dim = hd;
          a.kv_of_q = hs.kv_of_q.data();
          a.cache_len = C;
          a.scale = 1.0f / std::sqrt(float(hd));
          a.causal = causal;
          std::vector<float> out(q.size());
          ref->attention(out.data(), q.data(), kc.data(), vc.data(), a);
          gpu->attention(dout.get(), dq.get(), dkc.get(), dvc.get(), a);
          CHECK(rel_l2(dout.host(), out) <= 1e-5);
        }
}

TEST_CASE("cuda: activations, softmax, add, add_rows and tanh match the reference") {
  CUDA_OR_SKIP();
  auto ref = make_ref_backend();
  auto gpu = make_cuda_backend(0);
  std::mt19937 rng(12);
  for (size_t n : {size_t(1), size_t(7), size_t(1000), size_t(100003)}) {
    INFO("n " << n);
    auto a = randv(n, rng, 3.0f), b = randv(n, rng, 3.0f);
    Dev da(a), db(b), dy(n);
    std::vector<float> yr(n);
    ref->swiglu(yr.data(), a.data(), b.data(), n);
    gpu->swiglu(dy.get(), da.get(), db.get(), n);
    CHECK(rel_l2(dy.host(), yr) <= 1e-5);
    for (GeluKind kind : {GeluKind::Tanh, GeluKind::Erf}) {
      ref->gelu(yr.data(), a.data(), n, kind);
      gpu->gelu(dy.get(), da.get(), n, kind);
      CHECK(rel_l2(dy.host(), yr) <= 1e-5);
    }
    yr = a;
    ref->add(yr.data(), b.data(), n);
    gpu->add(da.get(), db.get(), n);
    CHECK(rel_l2(da.host(), yr) <= 1e-5);
    ref->tanh(yr.data(), n);
    gpu->tanh(da.get(), n);
    CHECK(rel_l2(da.host(), yr) <= 1e-5);
  }
  for (int M : {1, 3})
    for (int N : {1, 7, 1000, 50257}) {
      INFO("softmax M " << M << " N " << N);
      auto x = randv(size_t(M) * N, rng, 5.0f);
      Dev dx(x);
      ref->softmax(x.data(), M, N);
      gpu->softmax(dx.get(), M, N);
      CHECK(rel_l2(dx.host(), x) <= 1e-5);
    }
  for (int M : {1, 5})
    for (int D : {1, 7, 300}) {
      INFO("add_rows M " << M << " D " << D);
      auto y = randv(size_t(M) * D, rng), b = randv(size_t(D), rng);
      Dev dy(y), db(b);
      ref->add_rows(y.data(), b.data(), M, D);
      gpu->add_rows(dy.get(), db.get(), M, D);
      CHECK(rel_l2(dy.host(), y) <= 1e-6);
    }
}

TEST_CASE("cuda: embedding from f32, f16 and bf16 tables is exact; bad ids are refused") {
  CUDA_OR_SKIP();
  auto ref = make_ref_backend();
  auto gpu = make_cuda_backend(0);
  std::mt19937 rng(13);
  const int V = 50;
  for (DType dt : {DType::F32, DType::F16, DType::BF16})
    for (int D : {1, 7, 64, 300}) {
      INFO("dtype " << dtype_name(dt) << " D " << D);
      Tensor table = Tensor::from_floats(randv(size_t(V) * D, rng), {V, D}, dt);
      Tensor td = cuda_upload(table);
      std::vector<int> ids = {3, 0, 49, 3, 17, 17, 8};
      const int M = int(ids.size());
      std::vector<float> yr(size_t(M) * D);
      ref->embedding(yr.data(), table, ids.data(), M);
      Dev dy(yr.size());
      gpu->embedding(dy.get(), td, ids.data(), M);
      CHECK(dy.host() == yr);
      std::vector<int> bad = {1, V};
      CHECK_THROWS_AS(gpu->embedding(dy.get(), td, bad.data(), 2), Error);
      bad = {-1};
      CHECK_THROWS_AS(gpu->embedding(dy.get(), td, bad.data(), 1), Error);
    }
}

TEST_CASE("cuda: host tensors and out-of-range arguments are refused with zip::Error") {
  CUDA_OR_SKIP();
  auto gpu = make_cuda_backend(0);
  std::mt19937 rng(14);
  Tensor W = Tensor::from_floats(randv(12, rng), {3, 4});
  Dev x(4), y(3), cache(64);
  CHECK_THROWS_AS(gpu->matmul(y.get(), x.get(), W, nullptr, 1), Error);  // W still in host memory
  std::vector<int> pos = {0};
  CHECK_THROWS_AS(gpu->rope(x.get(), 1, 1, 3, pos.data(), 10000.0f), Error);  // odd head_dim
  CHECK_THROWS_AS(gpu->kv_store(cache.get(), x.get(), 2, 1, 4, 15, 16), Error);
  CHECK_THROWS_AS(make_cuda_backend(1 << 20), Error);
}

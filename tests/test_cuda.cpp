// What the CUDA backend does beyond the op table of test_backend_ops.cpp (which runs every op on
// the GPU against the reference): memory helpers, large and TF32 matmuls, refusals of bad
// arguments. Tolerances are relative L2 errors: 1e-5 for f32, 1e-2 for f16/bf16 weights (x is
// rounded to the weight type on the GPU).
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
    SKIP_TEST("no CUDA GPU (" << why_no_cuda << ")");           \
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
  SKIP_TEST("this build has no CUDA backend (make CUDA=1 BUILD=build-cuda); the CPU build's message is "
            "checked by 'cli: --device is parsed the same way by run, bench and eval'");
#endif
  std::string why;
  if (cuda_available(&why)) {
    SKIP_TEST("a CUDA GPU is present, so there is no missing-device message to check");
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

TEST_CASE("cuda: bad embedding ids are refused") {
  CUDA_OR_SKIP();
  auto gpu = make_cuda_backend(0);
  std::mt19937 rng(13);
  const int V = 50, D = 7;
  Tensor td = cuda_upload(Tensor::from_floats(randv(size_t(V) * D, rng), {V, D}));
  Dev dy(size_t(2) * D);
  std::vector<int> bad = {1, V};
  CHECK_THROWS_AS(gpu->embedding(dy.get(), td, bad.data(), 2), Error);
  bad = {-1};
  CHECK_THROWS_AS(gpu->embedding(dy.get(), td, bad.data(), 1), Error);
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

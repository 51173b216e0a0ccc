// The quantized matmul kernels (kernels/cpu/quant_kernels.h): every dot-product path this CPU
// runs, each block type, odd shapes, against x · dequant(W)ᵀ in float64 within the bound of the
// activation quantisation (tests/quant_test_util.h); the SIMD paths bit-identical to the scalar
// path (integer sums, then the same float operations in the same order), Q4_0's interleaved
// prefill path included; threads change nothing.
#include <cstring>
#include <random>

#include "base/thread_pool.h"
#include "engine/quant/dequantize.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/quant_kernels.h"
#include "kernels/cpu/quant_repacked.h"
#include "tests/quant_test_util.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

std::vector<float> randn(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

std::vector<float> run_path(ThreadPool& pool, cpu::QuantPath path, const std::vector<float>& x, const Tensor& W,
                            const std::vector<float>* bias, int M, cpu::ActTerms terms = cpu::ActTerms::One) {
  std::vector<float> y(size_t(M) * W.dim(0), -1.0f);
  cpu::quant_matmul(pool, y.data(), x.data(), W, bias ? bias->data() : nullptr, M, path, terms);
  return y;
}

const DType kTypes[] = {DType::Q8_0, DType::Q4_0, DType::Q5_0, DType::Q4_K, DType::Q6_K};

}  // namespace

TEST_CASE("quant kernels: every path and type against float64 within the activation-quantisation bound, one and two terms") {
  std::mt19937 rng(25);
  ThreadPool pool1(1);
  const auto paths = cpu::supported_quant_paths();
  std::string names;
  for (auto p : paths) names += std::string(names.empty() ? "" : ", ") + cpu::quant_path_name(p);
  MESSAGE("quant paths on this CPU: " << names);
  size_t checked = 0;
  for (DType t : kTypes) {
    const int be = dtype_block_elems(t);
    for (int K : {be, 3 * be})
      for (int N : {1, 5, 13, 70})
        for (int M : {1, 2, 3, 7, 33}) {
          Tensor W = ztest::random_block_tensor(t, N, K, rng);
          const std::vector<float> w = W.to_floats();
          const std::vector<float> x = randn(size_t(M) * K, rng), bias = randn(size_t(N), rng);
          std::vector<double> want(size_t(M) * N);
          for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
              double s = bias[size_t(n)];
              for (int k = 0; k < K; k++) s += double(x[size_t(m) * K + k]) * w[size_t(n) * K + k];
              want[size_t(m) * N + n] = s;
            }
          for (int terms : {1, 2}) {
            const auto bound = ztest::quant_matmul_bound(x, w, M, N, K, be, terms);
            for (cpu::QuantPath path : paths) {
              INFO(dtype_name(t) << " " << cpu::quant_path_name(path) << " M=" << M << " N=" << N << " K=" << K << " terms=" << terms);
              const std::vector<float> y =
                  run_path(pool1, path, x, W, &bias, M, terms == 2 ? cpu::ActTerms::Two : cpu::ActTerms::One);
              double worst = 0;
              for (size_t i = 0; i < want.size(); i++) worst = std::max(worst, std::fabs(y[i] - want[i]) / bound[i]);
              CHECK(worst <= 1.0);
              checked++;
            }
          }
        }
  }
  CHECK(checked == std::size(kTypes) * 2 * 4 * 5 * 2 * paths.size());
}

TEST_CASE("quant kernels: SIMD paths bit-identical to the scalar path, 1 and 2 threads") {
  std::mt19937 rng(7);
  ThreadPool pool1(1), pool2(2);
  const auto paths = cpu::supported_quant_paths();
  if (paths.size() == 1) MESSAGE("skipped: no SIMD quant path on this CPU (scalar only)");
  for (DType t : kTypes) {
    const int be = dtype_block_elems(t);
    // 1601 rows span several prefill panels of the 32-element types (quant_dot_repack.inc), the last one partial.
    // M = 1..3 on N not a multiple of 8 read the interleaved copies (quant_repacked.h) of Q8_0 / Q4_0.
    for (auto [M, N, K] : {std::tuple{1, 77, 2 * be}, std::tuple{2, 45, 3 * be}, std::tuple{3, 13, be},
                           std::tuple{33, 45, be}, std::tuple{7, 300, 6 * be}, std::tuple{5, 1601, 6 * be}}) {
      Tensor W = ztest::random_block_tensor(t, N, K, rng);
      const std::vector<float> x = randn(size_t(M) * K, rng);
      for (cpu::ActTerms terms : {cpu::ActTerms::One, cpu::ActTerms::Two}) {
        const std::vector<float> want = run_path(pool1, cpu::QuantPath::Scalar, x, W, nullptr, M, terms);
        for (cpu::QuantPath path : paths)
          for (ThreadPool* pool : {&pool1, &pool2}) {
            INFO(dtype_name(t) << " " << cpu::quant_path_name(path) << " threads=" << pool->size() << " M=" << M
                               << " terms=" << cpu::act_terms_name(terms));
            const std::vector<float> y = run_path(*pool, path, x, W, nullptr, M, terms);
            CHECK(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
          }
      }
    }
  }
}

TEST_CASE("quant kernels: interleaved weight copies are made for Q8_0 / Q4_0 on SIMD paths, follow the weight's owner, and change no bit") {
  std::mt19937 rng(11);
  ThreadPool pool(2);
  const auto paths = cpu::supported_quant_paths();
  if (paths.size() == 1) MESSAGE("skipped: no SIMD quant path on this CPU (scalar only)");
  const size_t before = cpu::repacked_bytes();
  {
    Tensor q4 = ztest::random_block_tensor(DType::Q4_0, 21, 64, rng), q5 = ztest::random_block_tensor(DType::Q5_0, 21, 64, rng);
    CHECK(cpu::repacked_weights(q4, cpu::QuantPath::Scalar) == nullptr);
    CHECK(cpu::repacked_weights(q5, cpu::best_quant_path()) == nullptr);  // 1.5× the size: none kept
    if (paths.size() > 1) {
      const uint8_t* c = cpu::repacked_weights(q4, cpu::best_quant_path());
      REQUIRE(c != nullptr);
      CHECK(cpu::repacked_weights(q4, cpu::best_quant_path()) == c);  // made once
      CHECK(cpu::repacked_bytes() == before + 24 * dtype_row_bytes(DType::Q4_0, 64));  // 3 groups of 8 rows
      cpu::set_repack_weights(false);
      CHECK(cpu::repacked_weights(q4, cpu::best_quant_path()) == nullptr);
      cpu::set_repack_weights(true);
    }
  }
  CHECK(cpu::repacked_bytes() == before);  // the weight died: its copy with it
  // A new owner at the same address with other bytes (as a freed buffer reused): a new copy.
  for (DType t : {DType::Q8_0, DType::Q4_0}) {
    const int N = 19, K = 96;
    Tensor a = ztest::random_block_tensor(t, N, K, rng), b = ztest::random_block_tensor(t, N, K, rng);
    std::shared_ptr<void> buf(a.holder.get(), [keep = a.holder](void*) {});
    Tensor w1 = Tensor::view(t, {N, K}, buf.get(), buf);
    const std::vector<float> x = randn(size_t(K), rng);
    for (cpu::QuantPath path : paths) {
      INFO(dtype_name(t) << " " << cpu::quant_path_name(path));
      CHECK(std::memcmp(run_path(pool, path, x, w1, nullptr, 1).data(), run_path(pool, cpu::QuantPath::Scalar, x, w1, nullptr, 1).data(),
                        N * sizeof(float)) == 0);
    }
    std::memcpy(buf.get(), b.data, b.nbytes());
    std::shared_ptr<void> owner2(buf.get(), [keep = a.holder](void*) {});
    Tensor w2 = Tensor::view(t, {N, K}, buf.get(), owner2);
    const std::vector<float> want = run_path(pool, cpu::QuantPath::Scalar, x, w2, nullptr, 1);
    CHECK(std::memcmp(want.data(), run_path(pool, cpu::QuantPath::Scalar, x, b, nullptr, 1).data(), N * sizeof(float)) == 0);
    for (cpu::QuantPath path : paths) {
      INFO(dtype_name(t) << " " << cpu::quant_path_name(path) << " after the bytes changed under a new owner");
      CHECK(std::memcmp(run_path(pool, path, x, w2, nullptr, 1).data(), want.data(), N * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("quant kernels: matmul dispatches block weights to the widest path, with the process's --act-terms") {
  std::mt19937 rng(3);
  ThreadPool pool(2);
  struct Restore {
    ~Restore() { cpu::set_act_terms(cpu::ActTerms::One); }
  } restore;
  CHECK(cpu::act_terms() == cpu::ActTerms::One);  // the default
  for (DType t : kTypes) {
    const int K = 2 * dtype_block_elems(t), N = 37;
    Tensor W = ztest::random_block_tensor(t, N, K, rng);
    for (int M : {1, 5})
      for (cpu::ActTerms terms : {cpu::ActTerms::One, cpu::ActTerms::Two}) {
        INFO(dtype_name(t) << " M=" << M << " --act-terms " << cpu::act_terms_name(terms));
        const std::vector<float> x = randn(size_t(M) * K, rng);
        std::vector<float> y(size_t(M) * N);
        cpu::set_act_terms(terms);
        cpu::matmul(pool, y.data(), x.data(), W, nullptr, M);
        const std::vector<float> want = run_path(pool, cpu::best_quant_path(), x, W, nullptr, M, terms);
        CHECK(std::memcmp(y.data(), want.data(), y.size() * sizeof(float)) == 0);
        const cpu::ActTerms other_terms = terms == cpu::ActTerms::One ? cpu::ActTerms::Two : cpu::ActTerms::One;
        const std::vector<float> other = run_path(pool, cpu::best_quant_path(), x, W, nullptr, M, other_terms);
        CHECK(std::memcmp(y.data(), other.data(), y.size() * sizeof(float)) != 0);
      }
  }
}

TEST_CASE("quant kernels: zip bench --quantize (and --quantize-output, --act-terms) names the weight types; bad use exits 2") {
  const std::string dir = ztest::temp_dir(), m = dir + "/s.zlm";
  auto c = ztest::run_zip("convert " + ztest::shell_quote(ztest::shared("models/stories260K/stories260K.bin")) + " -o " +
                          ztest::shell_quote(m));
  REQUIRE_MESSAGE(c.status == 0, c.err);
  auto b = ztest::run_zip("bench " + ztest::shell_quote(m) + " --prompt 8 --gen 4 --reps 1 --quantize q8_0");
  REQUIRE_MESSAGE(b.status == 0, b.err);
  CHECK_HAS(b.out, "f32+q8_0 weights");
  auto j = ztest::run_zip("bench " + ztest::shell_quote(m) + " --prompt 8 --gen 4 --reps 1 --quantize q4_0 --json");
  REQUIRE_MESSAGE(j.status == 0, j.err);
  auto jj = nlohmann::json::parse(j.out);
  CHECK(jj["weights"] == "f32+q4_0");
  if (cpu::supported_quant_paths().size() > 1) CHECK(jj["interleaved_bytes"].get<int64_t>() > 0);
  auto rows = nlohmann::json::parse(
      ztest::run_zip("bench " + ztest::shell_quote(m) + " --prompt 8 --gen 4 --reps 1 --quantize q4_0 --no-repack --json").out);
  CHECK(rows["interleaved_bytes"] == 0);
  auto plain = nlohmann::json::parse(ztest::run_zip("bench " + ztest::shell_quote(m) + " --prompt 8 --gen 4 --reps 1 --json").out);
  CHECK(jj["weight_bytes"].get<int64_t>() < plain["weight_bytes"].get<int64_t>() / 2);  // ffn down (K = 172) stays f32
  auto mixed = nlohmann::json::parse(
      ztest::run_zip("bench " + ztest::shell_quote(m) + " --prompt 8 --gen 4 --reps 1 --quantize q4_0 --quantize-output q8_0 --json").out);
  CHECK(mixed["weights"] == "f32+q4_0+q8_0");  // tok_embd (tied output) at q8_0, the rest at q4_0
  CHECK(mixed["weight_bytes"].get<int64_t>() > jj["weight_bytes"].get<int64_t>());
  CHECK(ztest::run_zip("bench " + ztest::shell_quote(m) + " --quantize-output q8_0").status == 2);
  auto two = ztest::run_zip("bench " + ztest::shell_quote(m) + " --prompt 8 --gen 4 --reps 1 --quantize q8_0 --act-terms 2 --json");
  CHECK_MESSAGE(two.status == 0, two.err);
  auto terms = ztest::run_zip("eval " + ztest::shell_quote(m) + " --ppl README.md --act-terms 3");
  CHECK(terms.status == 2);
  CHECK_HAS(terms.err, "--act-terms must be 1 or 2");
  auto bad = ztest::run_zip("bench " + ztest::shell_quote(m) + " --quantize q3_x");
  CHECK(bad.status == 2);
  CHECK_HAS(bad.err, "--quantize must be");
}

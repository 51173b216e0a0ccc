// The reference quantisers: Q8_0, Q4_0 and Q5_0 bit for bit against gguf-py's numpy quantisers, Q4_K and
// Q6_K bit for bit against ggml's quantize_row_*_ref, and every type's round trip (our
// dequantiser, and gguf-py's dequantisation of the reference blocks) within the error a type of
// that many bits must reach. Vectors: tests/data/gguf/quant (tools/make_quant_testdata.py).
#include <cmath>
#include <random>

#include "engine/dtype.h"
#include "engine/file_io.h"
#include "engine/quant/dequantize.h"
#include "engine/quant/quantize.h"
#include "tests/gguf_builder.h"
#include "tests/test_util.h"

namespace {

struct QuantCase {
  std::string name;
  zip::DType type;
  // Largest |x − deq(q(x))| of a random normal block, over the block's largest |x|: the step is
  // amax/127 (Q8_0, half a step of error), amax/8 for Q4_0 (a whole step where +amax clamps to level 15),
  // amax/16 for Q5_0 (likewise clamped to level 31), a 4-bit scale with a
  // 6-bit scale-of-scales for Q4_K, 6 bits (amax/32) for Q6_K; each bound is 1.5 steps' worth.
  double max_err_over_amax;
};

const QuantCase kCases[] = {{"Q8_0", zip::DType::Q8_0, 0.006},
                            {"Q4_0", zip::DType::Q4_0, 0.13},
                            {"Q4_K", zip::DType::Q4_K, 0.12},
                            {"Q6_K", zip::DType::Q6_K, 0.035},
                            {"Q5_0", zip::DType::Q5_0, 0.07}};  // last: the others keep their random draws

std::string quant_data(const std::string& file) { return zip::read_file(kData + "quant/" + file); }

}  // namespace

TEST_CASE("quantize: every block type matches the reference quantiser bit for bit") {
  for (const QuantCase& c : kCases) {
    INFO("type " << c.name);
    const std::vector<float> x = floats_of(quant_data(std::string(c.name) + ".in.f32"));
    const std::string want = quant_data(std::string(c.name) + ".blocks");
    REQUIRE(want.size() == zip::dtype_row_bytes(c.type, int64_t(x.size())));
    std::string got(want.size(), '\0');
    zip::quant::quantize(c.type, x.data(), got.data(), int64_t(x.size()));
    const size_t bb = zip::dtype_block_bytes(c.type);
    size_t first_bad = want.size();
    for (size_t i = 0; i < want.size(); i++)
      if (got[i] != want[i]) {
        first_bad = i;
        break;
      }
    INFO("first differing byte " << first_bad << " (block " << first_bad / bb << ")");
    CHECK(first_bad == want.size());
  }
}

TEST_CASE("quantize: our dequantiser of the reference blocks equals gguf-py's bit for bit") {
  for (const QuantCase& c : kCases) {
    INFO("type " << c.name);
    const std::string blocks = quant_data(std::string(c.name) + ".blocks");
    const std::vector<float> want = floats_of(quant_data(std::string(c.name) + ".deq.f32"));
    std::vector<float> got(want.size());
    zip::quant::dequantize(c.type, blocks.data(), got.data(), int64_t(got.size()));
    CHECK(first_bit_difference(got.data(), want.data(), got.size()) == -1);
  }
}

TEST_CASE("quantize: round trip of random blocks within each type's error bound") {
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const QuantCase& c : kCases) {
    INFO("type " << c.name);
    const int be = zip::dtype_block_elems(c.type);
    const int64_t n = int64_t(be) * 64;
    std::vector<float> x(size_t(n), 0.0f);
    std::vector<float> back(x.size());
    for (int64_t b = 0; b < n / be; b++) {
      const float scale = std::pow(10.0f, float(b % 7) - 3.0f);
      for (int j = 0; j < be; j++) x[size_t(b * be + j)] = nd(rng) * scale;
    }
    std::string q(zip::dtype_row_bytes(c.type, n), '\0');
    zip::quant::quantize(c.type, x.data(), q.data(), n);
    zip::quant::dequantize(c.type, q.data(), back.data(), n);
    double worst = 0, sq_err = 0, sq = 0;
    for (int64_t b = 0; b < n / be; b++) {
      double amax = 0, err = 0;
      for (int j = 0; j < be; j++) {
        const size_t i = size_t(b * be + j);
        amax = std::max(amax, std::fabs(double(x[i])));
        err = std::max(err, std::fabs(double(x[i]) - double(back[i])));
        sq_err += (double(x[i]) - back[i]) * (double(x[i]) - back[i]);
        sq += double(x[i]) * x[i];
      }
      worst = std::max(worst, err / amax);
    }
    INFO("worst block error / amax " << worst << ", relative rms " << std::sqrt(sq_err / sq));
    CHECK(worst < c.max_err_over_amax);
    CHECK(worst > c.max_err_over_amax / 10);  // a bound that is not loose by orders of magnitude
  }
}

TEST_CASE("quantize: zero blocks stay zero, and a ragged length is refused") {
  for (const QuantCase& c : kCases) {
    INFO("type " << c.name);
    const int be = zip::dtype_block_elems(c.type);
    std::vector<float> zeros(size_t(be), 0.0f), back(size_t(be), 1.0f);
    std::string q(zip::dtype_block_bytes(c.type), '\x55');
    zip::quant::quantize(c.type, zeros.data(), q.data(), be);
    zip::quant::dequantize(c.type, q.data(), back.data(), be);
    for (float v : back) CHECK(v == 0.0f);
    CHECK_THROWS_WITH_AS(zip::quant::quantize(c.type, zeros.data(), q.data(), be - 1),
                         doctest::Contains("whole number"), zip::Error);
  }
}

// The Distiller on encoders (distill/distill_loop.h): tiny-random-bert teaching a slice of itself
// (heads and FFN neurons removed, layer count kept). The loss terms and the student's gradient
// against a float64 computation (the loss from TrainModelT<double> residual streams, its
// directional derivatives by central differences), and a few steps bringing the student closer.
#include <cmath>
#include <random>

#include "compress/slice.h"
#include "distill/distill_loop.h"
#include "engine/train/train_model.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"

using namespace zip;
using namespace zip::distill;

namespace {

constexpr int kB = 2, kT = 8;

// tiny-random-bert (3 layers, 4 heads, FFN 128) with a head removed in layer 0, FFN neurons in
// layers 0 and 1, three heads in layer 2: uneven per-layer shapes.
const Model& sliced_bert() {
  static const Model m = [] {
    std::vector<int> even, low;
    for (int i = 0; i < 128; i += 2) even.push_back(i);
    for (int i = 0; i < 80; i++) low.push_back(i);
    std::vector<int> all(128);
    for (int i = 0; i < 128; i++) all[size_t(i)] = i;
    SliceSpec s;
    s[0] = {{0, 2, 3}, std::nullopt, even};
    s[1] = {{0, 1, 2, 3}, std::nullopt, low};
    s[2] = {{1}, std::nullopt, all};
    return slice_model(ztest::tiny_bert(), s);
  }();
  return m;
}

std::vector<int> random_tokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int> t(static_cast<size_t>(n));
  for (auto& x : t) x = 5 + int(rng() % uint32_t(vocab - 5));  // no special tokens
  return t;
}

DistillOptions encoder_options(HiddenLoss h, double weight, int B, int T) {
  DistillOptions o;
  o.hidden = h, o.hidden_weight = weight;
  for (int k = 1; k <= 3; k++) o.layer_map.push_back({k, k});
  o.max_B = B, o.max_T = T;
  return o;
}

// Mean over rows of 1 - cos(a_m, b_m) or of mean_D (a - b)², in double.
double row_loss(const double* a, const double* b, int M, int D, HiddenLoss h) {
  double sum = 0;
  for (int m = 0; m < M; m++) {
    const double *x = a + size_t(m) * D, *y = b + size_t(m) * D;
    double dot = 0, nx = 0, ny = 0, se = 0;
    for (int i = 0; i < D; i++) dot += x[i] * y[i], nx += x[i] * x[i], ny += y[i] * y[i], se += (x[i] - y[i]) * (x[i] - y[i]);
    sum += h == HiddenLoss::Cosine ? 1.0 - dot / std::sqrt(nx * ny) : se / D;
  }
  return sum / M;
}

// The encoder distillation loss in float64: L_out (last layer's outputs) and the mean over the
// layer pairs k = 1..3 of the residual streams' loss.
struct Reference {
  train::TrainModelT<double> teacher, student;
  std::vector<std::vector<double>> t_res;
  HiddenLoss h;
  Reference(train::TrainOpsT<double>& ops, const std::vector<int>& tokens, HiddenLoss kind)
      : teacher(ztest::tiny_bert(), ops, opts()), student(sliced_bert(), ops, opts()), h(kind) {
    teacher.forward(batch(tokens));
    for (int k = 0; k <= 3; k++) t_res.emplace_back(teacher.residual(k), teacher.residual(k) + size_t(kB) * kT * 64);
  }
  static train::TrainOptions opts() {
    train::TrainOptions o;
    o.max_B = kB, o.max_T = kT;
    return o;
  }
  static train::Batch batch(const std::vector<int>& tokens) {
    train::Batch b;
    b.B = kB, b.T = kT, b.tokens = tokens.data();
    return b;
  }
  // (L_out, L_hidden) of the student's current parameters.
  std::pair<double, double> terms(const std::vector<int>& tokens) {
    student.forward(batch(tokens));
    const int M = kB * kT;
    double lh = 0;
    for (int k = 1; k <= 3; k++) lh += row_loss(student.residual(k), t_res[size_t(k)].data(), M, 64, h) / 3;
    return {row_loss(student.hidden(), t_res[3].data(), M, 64, h), lh};
  }
};

}  // namespace

TEST_CASE("distill encoder: loss terms and the student's gradient match float64 central differences") {
  for (HiddenLoss kind : {HiddenLoss::Cosine, HiddenLoss::Mse}) {
    CAPTURE(int(kind));
    const double weight = 0.7;
    const std::vector<int> tokens = random_tokens(kB * kT, 512, 11);
    auto ops = train::make_cpu_train_ops(1);
    Distiller d(ztest::tiny_bert(), sliced_bert(), *ops, encoder_options(kind, weight, kB, kT));
    LoopHooks h = d.hooks();
    h.zero_grad();
    const auto got = h.micro(tokens.data(), tokens.data(), kB, kT, 1.0);

    auto ops64 = train::make_cpu_train_ops_f64(1);
    Reference ref(*ops64, tokens, kind);
    const auto [l_out, l_hidden] = ref.terms(tokens);
    REQUIRE(l_out > 1e-4);
    CHECK(got.at("output") == doctest::Approx(l_out).epsilon(1e-4));
    CHECK(got.at("hidden") == doctest::Approx(l_hidden).epsilon(1e-4));
    CHECK(got.at("loss") == doctest::Approx(l_out + weight * l_hidden).epsilon(1e-4));
    CHECK(got.count("kl") == 0);

    // Directional derivatives along a random direction within each of a few tensors.
    std::mt19937 rng(3);
    std::normal_distribution<double> nd(0.0, 1.0);
    for (const char* name : {"blk.0.attn_q", "blk.0.attn_out_norm", "blk.1.ffn_up", "blk.2.attn_output", "blk.2.ffn_down.bias",
                             "pos_embd", "tok_embd"}) {
      CAPTURE(name);
      const train::ParamInfo& p = d.student().info(name);
      const float* g = d.student().grad(name);
      double* w = ref.student.param(name);
      std::vector<double> dir(p.numel);
      double analytic = 0;
      for (size_t i = 0; i < p.numel; i++) dir[i] = nd(rng), analytic += double(g[i]) * dir[i];
      auto loss_at = [&](double eps) {
        for (size_t i = 0; i < p.numel; i++) w[i] += eps * dir[i];
        auto [o, hl] = ref.terms(tokens);
        for (size_t i = 0; i < p.numel; i++) w[i] -= eps * dir[i];
        return o + weight * hl;
      };
      const double eps = 1e-6, numeric = (loss_at(eps) - loss_at(-eps)) / (2 * eps);
      INFO("analytic " << analytic << ", numeric " << numeric);
      REQUIRE(std::fabs(numeric) > 1e-6);
      CHECK(std::fabs(analytic - numeric) <= 2e-3 * std::fabs(numeric) + 1e-7);
    }
  }
}

TEST_CASE("distill encoder: a few steps bring the sliced student closer to its teacher on unseen tokens") {
  const int B = 4, T = 16;
  auto ops = train::make_cpu_train_ops(2);
  Distiller d(ztest::tiny_bert(), sliced_bert(), *ops, encoder_options(HiddenLoss::Cosine, -1, B, T));
  LoopHooks h = d.hooks();
  const std::vector<int> unseen = random_tokens(B * T, 512, 100);
  const auto before = h.eval(unseen.data(), unseen.data(), B, T);
  // α = L_out / L_hidden: both terms pull alike.
  CHECK(before.at("alpha") == doctest::Approx(before.at("output") / before.at("hidden")));
  CHECK(before.at("loss") == doctest::Approx(2 * before.at("output")));
  for (int step = 0; step < 20; step++) {
    const std::vector<int> t = random_tokens(B * T, 512, 200 + uint32_t(step));
    h.zero_grad();
    h.micro(t.data(), t.data(), B, T, 1.0);
    h.update(1e-3);
  }
  const auto after = h.eval(unseen.data(), unseen.data(), B, T);
  INFO("output loss " << before.at("output") << " -> " << after.at("output") << ", hidden " << before.at("hidden") << " -> "
                      << after.at("hidden"));
  CHECK(after.at("output") < 0.8 * before.at("output"));
  CHECK(after.at("hidden") < before.at("hidden"));
  // The exported student is the trained one.
  Distiller again(ztest::tiny_bert(), d.student_model(), *ops, encoder_options(HiddenLoss::Cosine, -1, B, T));
  CHECK(again.hooks().eval(unseen.data(), unseen.data(), B, T).at("output") == doctest::Approx(after.at("output")).epsilon(1e-5));
}

TEST_CASE("distill encoder: a decoder and an encoder together, or a CE weight on an encoder, are refused") {
  auto ops = train::make_cpu_train_ops(1);
  DistillOptions o = encoder_options(HiddenLoss::Cosine, -1, kB, kT);
  CHECK_THROWS_WITH_AS(Distiller(ztest::tiny_bert(), ztest::stories260K(), *ops, o), doctest::Contains("both"), Error);
  o.ce_weight = 0.5;
  CHECK_THROWS_WITH_AS(Distiller(ztest::tiny_bert(), sliced_bert(), *ops, o), doctest::Contains("CE weight"), Error);
}

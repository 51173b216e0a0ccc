// The Distiller (distill/distill_loop.h) driven directly through its loop hooks, on stories260K
// (teacher) and its golden slice (student): a student equal to its teacher, one update step, and
// every loss term against a float64 computation from the two models' own outputs.
#include <cmath>
#include <random>

#include "distill/distill_defaults.h"
#include "distill/distill_loop.h"
#include "engine/train/train_model.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"

using namespace zip;
using namespace zip::distill;

namespace {

constexpr int kB = 2, kT = 16;

struct TokenBatch {
  std::vector<int> tokens, targets;
};

TokenBatch random_batch(int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  TokenBatch b;
  for (int i = 0; i < kB * kT; i++) {
    b.tokens.push_back(int(rng() % uint32_t(vocab)));
    b.targets.push_back(int(rng() % uint32_t(vocab)));
  }
  return b;
}

DistillOptions options(float tau, double ce_weight, HiddenLoss hidden, double hidden_weight) {
  DistillOptions o;
  o.temperature = tau, o.ce_weight = ce_weight, o.hidden = hidden, o.hidden_weight = hidden_weight;
  o.max_B = kB, o.max_T = kT;
  return o;
}

// A model's logits [rows, V] and final hidden states [rows, D] on a batch, as host copies.
struct Outputs {
  std::vector<float> logits, hidden;
};
Outputs run_model(const Model& m, train::TrainOps& ops, const TokenBatch& b) {
  train::TrainOptions to;
  to.max_B = kB, to.max_T = kT;
  train::TrainModel tm(m, ops, to);
  train::Batch tb;
  tb.B = kB, tb.T = kT, tb.tokens = b.tokens.data();
  tm.forward(tb);
  const size_t rows = size_t(kB) * kT;
  Outputs o{std::vector<float>(rows * size_t(m.config.vocab_size)), std::vector<float>(rows * size_t(m.config.dim))};
  ops.to_host(o.logits.data(), tm.logits(), o.logits.size() * sizeof(float));
  ops.to_host(o.hidden.data(), tm.hidden(), o.hidden.size() * sizeof(float));
  return o;
}

// log softmax(z / tau) of one row, in double.
std::vector<double> log_softmax(const float* z, int V, double tau) {
  std::vector<double> l(static_cast<size_t>(V));
  double mx = -1e300, sum = 0;
  for (int i = 0; i < V; i++) mx = std::max(mx, z[i] / tau);
  for (int i = 0; i < V; i++) sum += std::exp(z[i] / tau - mx);
  for (int i = 0; i < V; i++) l[size_t(i)] = z[i] / tau - mx - std::log(sum);
  return l;
}

struct DirectTerms {
  double kl = 0, ce = 0, cosine = 0, mse = 0;
};
// The loss terms of distill_loop.h computed from the models' outputs in double, means over rows.
DirectTerms direct_terms(const Outputs& s, const Outputs& t, const TokenBatch& b, int V, int D, double tau) {
  DirectTerms d;
  const int rows = kB * kT;
  for (int m = 0; m < rows; m++) {
    auto ls = log_softmax(s.logits.data() + size_t(m) * V, V, tau);
    auto lt = log_softmax(t.logits.data() + size_t(m) * V, V, tau);
    double kl = 0;
    for (int i = 0; i < V; i++) kl += std::exp(lt[size_t(i)]) * (lt[size_t(i)] - ls[size_t(i)]);
    d.kl += tau * tau * kl / rows;
    d.ce -= log_softmax(s.logits.data() + size_t(m) * V, V, 1.0)[size_t(b.targets[size_t(m)])] / rows;
    const float *hs = s.hidden.data() + size_t(m) * D, *ht = t.hidden.data() + size_t(m) * D;
    double dot = 0, ns = 0, nt = 0, se = 0;
    for (int i = 0; i < D; i++) {
      dot += double(hs[i]) * ht[i], ns += double(hs[i]) * hs[i], nt += double(ht[i]) * ht[i];
      se += (double(hs[i]) - ht[i]) * (double(hs[i]) - ht[i]);
    }
    d.cosine += (1.0 - dot / std::sqrt(ns * nt)) / rows;
    d.mse += se / D / rows;
  }
  return d;
}

}  // namespace

TEST_CASE("distill: a student equal to its teacher has zero KL and gets no gradient from it") {
  const Model& m = ztest::stories260K();
  auto ops = train::make_cpu_train_ops(1);
  Distiller d(m, m, *ops, options(2.0f, 0, HiddenLoss::None, -1));
  LoopHooks h = d.hooks();
  TokenBatch b = random_batch(m.config.vocab_size, 1);
  h.zero_grad();
  auto terms = h.micro(b.tokens.data(), b.targets.data(), kB, kT, 1.0);
  CHECK(std::fabs(terms.at("kl")) < 1e-6);
  CHECK(terms.at("loss") == terms.at("kl"));
  // The global gradient norm: p_student - p_teacher is 0 up to the rounding of two softmax forms
  // in the KL backward (a different student's norm is above 1e-3, next test).
  CHECK(h.update(0.0) < 1e-6);
}

TEST_CASE("distill: one step on the sliced student lowers the KD loss on the same batch") {
  const Model &teacher = ztest::stories260K(), &student = ztest::stories260K_sliced();
  auto ops = train::make_cpu_train_ops(2);
  Distiller d(teacher, student, *ops, options(1.0f, 0, HiddenLoss::None, -1));
  LoopHooks h = d.hooks();
  TokenBatch b = random_batch(teacher.config.vocab_size, 2);
  const double before = h.eval(b.tokens.data(), b.targets.data(), kB, kT).at("loss");
  h.zero_grad();
  const double micro = h.micro(b.tokens.data(), b.targets.data(), kB, kT, 1.0).at("loss");
  CHECK(micro == before);  // a training micro-batch and an evaluation see the same loss
  CHECK(before > 1e-3);    // the slice is a different model
  CHECK(h.update(1e-3) > 1e-3);
  const double after = h.eval(b.tokens.data(), b.targets.data(), kB, kT).at("loss");
  INFO("KD loss " << before << " -> " << after);
  CHECK(after < before);
  // The exported student is the updated one: its own KD loss on the batch is the new value.
  Distiller again(teacher, d.student_model(), *ops, options(1.0f, 0, HiddenLoss::None, -1));
  const double exported = again.hooks().eval(b.tokens.data(), b.targets.data(), kB, kT).at("loss");
  CHECK(exported == doctest::Approx(after).epsilon(1e-6));
}

TEST_CASE("distill: loss terms (KL at tau, CE weight, cosine and MSE hidden losses, alpha) match float64") {
  const Model &teacher = ztest::stories260K(), &student = ztest::stories260K_sliced();
  auto ops = train::make_cpu_train_ops(1);
  TokenBatch b = random_batch(teacher.config.vocab_size, 3);
  const int V = teacher.config.vocab_size, D = teacher.config.dim;
  REQUIRE(student.config.dim == D);  // same width: hidden states compared without a map
  const Outputs s = run_model(student, *ops, b), t = run_model(teacher, *ops, b);
  const double tau = 2.0, w_ce = 0.5;
  const DirectTerms want = direct_terms(s, t, b, V, D, tau);
  REQUIRE(want.kl > 1e-4);
  REQUIRE(want.cosine > 1e-6);

  SUBCASE("cosine, fixed alpha") {
    Distiller d(teacher, student, *ops, options(float(tau), w_ce, HiddenLoss::Cosine, 0.3));
    auto got = d.hooks().eval(b.tokens.data(), b.targets.data(), kB, kT);
    CHECK(got.at("kl") == doctest::Approx(want.kl).epsilon(1e-5));
    CHECK(got.at("ce") == doctest::Approx(want.ce).epsilon(1e-5));
    CHECK(got.at("hidden") == doctest::Approx(want.cosine).epsilon(1e-4));
    CHECK(got.at("alpha") == 0.3);
    CHECK(got.at("loss") == doctest::Approx(want.kl + w_ce * want.ce + 0.3 * want.cosine).epsilon(1e-5));
  }
  SUBCASE("mse, alpha = logit loss / hidden loss") {
    Distiller d(teacher, student, *ops, options(float(tau), w_ce, HiddenLoss::Mse, -1));
    auto got = d.hooks().eval(b.tokens.data(), b.targets.data(), kB, kT);
    const double l_logits = want.kl + w_ce * want.ce;
    CHECK(got.at("hidden") == doctest::Approx(want.mse).epsilon(1e-5));
    CHECK(got.at("alpha") == doctest::Approx(l_logits / want.mse).epsilon(1e-5));
    CHECK(got.at("loss") == doctest::Approx(2 * l_logits).epsilon(1e-5));
  }
  SUBCASE("no CE weight, no hidden loss: the loss is the KL alone") {
    Distiller d(teacher, student, *ops, options(float(tau), 0, HiddenLoss::None, -1));
    auto got = d.hooks().eval(b.tokens.data(), b.targets.data(), kB, kT);
    CHECK(got.at("loss") == got.at("kl"));
    CHECK(got.count("hidden") == 0);
  }
}

TEST_CASE("distill: default learning rate scales with 1/dim, warm-up is 5% of the steps") {
  CHECK(default_distill_lr(576) == doctest::Approx(0.1 / 576));  // SmolLM2-135M
  CHECK(default_distill_lr(64) == 1e-3);                         // capped: stories260K
  CHECK(default_distill_lr(2048) < default_distill_lr(576));
  CHECK(default_distill_warmup(1000) == 50);
  CHECK(default_distill_warmup(30) == 2);
  CHECK(default_distill_warmup(20) == 1);
  CHECK(default_distill_warmup(5) == 0);
}

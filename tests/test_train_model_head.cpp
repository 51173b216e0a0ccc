// The training model with the LM head left to the caller (TrainOptions::lm_head = false, the
// fused TrainOps::vocab_loss on hidden()/head_weight()) and the forward-only teacher mode, against
// the built-in head in double precision: the same losses and every parameter gradient.
#include <random>

#include "engine/train/train_model.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"

using namespace zip;
using namespace zip::train;

namespace {

double max_rel(const double* a, const double* b, size_t n) {
  double num = 0, den = 1e-300;
  for (size_t i = 0; i < n; i++) num = std::max(num, std::fabs(a[i] - b[i])), den = std::max(den, std::fabs(b[i]));
  return num / den;
}

}  // namespace

TEST_CASE("train model: fused KL + CE head (lm_head off) gives the built-in head's losses and gradients (f64)") {
  const Model &teacher = ztest::stories260K(), &student = ztest::stories260K_sliced();
  auto ops = make_cpu_train_ops_f64(2);
  const int B = 2, T = 9, M = B * T, V = student.config.vocab_size;
  const float tau = 2.0f;
  const double w_ce = 0.7;
  std::mt19937 rng(7);
  std::vector<int> tokens(static_cast<size_t>(M)), targets(static_cast<size_t>(M));
  for (auto& t : tokens) t = int(rng() % unsigned(V));
  for (auto& t : targets) t = int(rng() % unsigned(V));
  targets[3] = -1;
  Batch b;
  b.B = B, b.T = T, b.tokens = tokens.data(), b.targets = targets.data();
  TrainOptions full;
  full.max_B = B, full.max_T = T;

  // Reference: teacher logits from a full model, student with the built-in head and CE.
  TrainModelT<double> tref(teacher, *ops, full), sref(student, *ops, full);
  tref.forward(b);
  std::vector<double> zt(tref.logits(), tref.logits() + size_t(M) * V), row(static_cast<size_t>(M));
  sref.zero_grad();
  double ce_ref = sref.forward(b);
  ops->kl_div_fwd(row.data(), sref.logits(), zt.data(), nullptr, M, V, tau);
  double kl_ref = ops->sum(row.data(), size_t(M)) / M;
  ops->kl_div_bwd(sref.logits_grad(), sref.logits(), zt.data(), nullptr, M, V, tau, 1.0 / M);
  sref.backward(w_ce);

  // Fused: a forward-only teacher and a head-less student.
  TrainOptions fo = full, nh = full;
  fo.forward_only = true, fo.lm_head = false;
  nh.lm_head = false;
  TrainModelT<double> tf(teacher, *ops, fo), sf(student, *ops, nh);
  tf.forward(b);
  CHECK(max_rel(tf.hidden(), tref.hidden(), size_t(M) * teacher.config.dim) == 0.0);  // same code, same numbers
  sf.zero_grad();
  CHECK(sf.forward(b) == 0.0);  // no built-in loss without the head
  std::vector<double> kl(static_cast<size_t>(M)), ce(static_cast<size_t>(M));
  VocabLoss<double> vl;
  vl.M = M, vl.D = student.config.dim, vl.Dt = teacher.config.dim, vl.V = V, vl.tau = tau, vl.block_rows = 5;
  vl.h = sf.hidden(), vl.W = sf.head_weight(), vl.ht = tf.hidden(), vl.Wt = tf.head_weight();
  vl.targets = sf.targets_device(), vl.kl = kl.data(), vl.ce = ce.data();
  vl.dh = sf.hidden_grad(), vl.dW = sf.head_grad(), vl.dkl = 1.0 / M, vl.dce = w_ce / sf.n_targets();
  ops->vocab_loss(vl);
  sf.backward();
  CHECK(ops->sum(kl.data(), size_t(M)) / M == doctest::Approx(kl_ref).epsilon(1e-12));
  CHECK(ops->sum(ce.data(), size_t(M)) / sf.n_targets() == doctest::Approx(ce_ref).epsilon(1e-12));
  for (const ParamInfo& p : sf.params()) {
    CAPTURE(p.name);
    CHECK(max_rel(sf.grad(p.name), sref.grad(p.name), p.numel) < 1e-10);
  }
  CHECK_THROWS(tf.backward());
}

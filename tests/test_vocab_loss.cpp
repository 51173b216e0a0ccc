// The fused, row-blocked LM head + KL + CE (TrainOps::vocab_loss) against the unfused ops it
// replaces (linear_fwd, kl_div_*, cross_entropy_*, linear_bwd), in double precision: values and
// gradients, for vocabularies that are and are not multiples of the GEMM panel width, row counts
// that are and are not multiples of the block, with and without CE, τ = 1 and τ ≠ 1, masked
// rows and ignored targets. The float instantiation is checked against the double one.
#include <cmath>
#include <random>

#include "engine/train/train_ops.h"
#include "tests/test_util.h"

using namespace zip;
using namespace zip::train;

namespace {

using Vec = std::vector<double>;

Vec randn(size_t n, std::mt19937& rng, double scale) {
  std::normal_distribution<double> d(0.0, scale);
  Vec v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double max_rel(const Vec& a, const Vec& b) {
  double num = 0, den = 1e-300;
  for (size_t i = 0; i < a.size(); i++) num = std::max(num, std::fabs(a[i] - b[i])), den = std::max(den, std::fabs(b[i]));
  return num / den;
}

struct Case {
  int M, D, Dt, V, block;
  float tau;
  bool ce, kl;
};

struct Result {
  Vec kl, ce, dh, dW;
};

// The unfused path: full [M, V] logits, then the row losses, then the head's backward.
template <typename T>
Result unfused(TrainOpsT<T>& ops, const Case& c, const Vec& h, const Vec& W, const Vec& ht, const Vec& Wt,
               const std::vector<int>& tg, const std::vector<int>& mask, double dkl, double dce) {
  const size_t MV = size_t(c.M) * c.V;
  std::vector<T> hv(h.begin(), h.end()), Wv(W.begin(), W.end()), htv(ht.begin(), ht.end()), Wtv(Wt.begin(), Wt.end());
  std::vector<T> z(MV), zt(MV), dz(MV, T(0)), kl(size_t(c.M), T(0)), ce(size_t(c.M), T(0));
  std::vector<T> dh(h.size(), T(0.25)), dW(W.size(), T(0.25));
  ops.linear_fwd(z.data(), hv.data(), Wv.data(), nullptr, c.M, c.D, c.V);
  if (c.kl) {
    ops.linear_fwd(zt.data(), htv.data(), Wtv.data(), nullptr, c.M, c.Dt, c.V);
    ops.kl_div_fwd(kl.data(), z.data(), zt.data(), mask.data(), c.M, c.V, c.tau);
    ops.kl_div_bwd(dz.data(), z.data(), zt.data(), mask.data(), c.M, c.V, c.tau, dkl);
  }
  if (c.ce) {
    ops.cross_entropy_fwd(ce.data(), z.data(), tg.data(), c.M, c.V);
    ops.cross_entropy_bwd(dz.data(), z.data(), tg.data(), c.M, c.V, dce);
  }
  ops.linear_bwd(dh.data(), dW.data(), nullptr, dz.data(), hv.data(), Wv.data(), c.M, c.D, c.V);
  return {Vec(kl.begin(), kl.end()), Vec(ce.begin(), ce.end()), Vec(dh.begin(), dh.end()), Vec(dW.begin(), dW.end())};
}

template <typename T>
Result fused(TrainOpsT<T>& ops, const Case& c, const Vec& h, const Vec& W, const Vec& ht, const Vec& Wt,
             const std::vector<int>& tg, const std::vector<int>& mask, double dkl, double dce) {
  std::vector<T> hv(h.begin(), h.end()), Wv(W.begin(), W.end()), htv(ht.begin(), ht.end()), Wtv(Wt.begin(), Wt.end());
  std::vector<T> kl(size_t(c.M), T(7)), ce(size_t(c.M), T(7)), dh(h.size(), T(0.25)), dW(W.size(), T(0.25));
  VocabLoss<T> a;
  a.M = c.M, a.D = c.D, a.Dt = c.Dt, a.V = c.V, a.block_rows = c.block, a.tau = c.tau;
  a.h = hv.data(), a.W = Wv.data();
  if (c.kl) a.ht = htv.data(), a.Wt = Wtv.data(), a.mask = mask.data(), a.kl = kl.data(), a.dkl = dkl;
  if (c.ce) a.targets = tg.data(), a.ce = ce.data(), a.dce = dce;
  a.dh = dh.data(), a.dW = dW.data();
  ops.vocab_loss(a);
  if (!c.kl) kl.assign(kl.size(), T(0));
  if (!c.ce) ce.assign(ce.size(), T(0));
  return {Vec(kl.begin(), kl.end()), Vec(ce.begin(), ce.end()), Vec(dh.begin(), dh.end()), Vec(dW.begin(), dW.end())};
}

}  // namespace

TEST_CASE("vocab loss: fused and row-blocked equals the unfused head + KL + CE (f64, f32)") {
  auto ops64 = make_cpu_train_ops_f64(2);
  auto ops32 = make_cpu_train_ops(2);
  std::mt19937 rng(11);
  const Case cases[] = {
      {7, 12, 12, 37, 3, 1.0f, true, true},    // V not a multiple of the panel, M not of the block
      {8, 12, 9, 64, 4, 2.5f, true, true},     // V a multiple, M a multiple; teacher width differs
      {5, 10, 10, 70, 2, 2.5f, false, true},   // KL only, τ ≠ 1
      {6, 10, 10, 33, 256, 1.0f, true, false}, // CE only, one block
      {9, 16, 16, 96, 4, 0.5f, true, true},
  };
  for (const Case& c : cases) {
    CAPTURE(c.V);
    CAPTURE(c.M);
    CAPTURE(c.block);
    CAPTURE(c.tau);
    Vec h = randn(size_t(c.M) * c.D, rng, 1.0), W = randn(size_t(c.V) * c.D, rng, 0.5);
    Vec ht = randn(size_t(c.M) * c.Dt, rng, 1.0), Wt = randn(size_t(c.V) * c.Dt, rng, 0.5);
    std::vector<int> tg(size_t(c.M)), mask(size_t(c.M), 1);
    for (int m = 0; m < c.M; m++) tg[size_t(m)] = m % 4 == 2 ? -1 : int(rng() % unsigned(c.V));
    mask[1] = 0;
    const double dkl = 1.0 / c.M, dce = 0.3 / c.M;
    Result r = unfused(*ops64, c, h, W, ht, Wt, tg, mask, dkl, dce);
    Result f = fused(*ops64, c, h, W, ht, Wt, tg, mask, dkl, dce);
    CHECK(max_rel(f.kl, r.kl) < 1e-12);
    CHECK(max_rel(f.ce, r.ce) < 1e-12);
    CHECK(max_rel(f.dh, r.dh) < 1e-12);
    CHECK(max_rel(f.dW, r.dW) < 1e-12);
    if (c.kl) CHECK(f.kl[1] == 0.0);  // the masked row
    if (c.ce) CHECK(f.ce[2] == 0.0);  // the ignored target
    Result f32 = fused(*ops32, c, h, W, ht, Wt, tg, mask, dkl, dce);
    CHECK(max_rel(f32.kl, r.kl) < 1e-4);
    CHECK(max_rel(f32.ce, r.ce) < 1e-4);
    CHECK(max_rel(f32.dh, r.dh) < 1e-4);
    CHECK(max_rel(f32.dW, r.dW) < 1e-4);
  }
}

TEST_CASE("vocab loss: values only (no gradients), and forward-only calls leave no trace") {
  auto ops = make_cpu_train_ops_f64(1);
  std::mt19937 rng(3);
  Case c{5, 8, 8, 41, 2, 2.0f, true, true};
  Vec h = randn(40, rng, 1.0), W = randn(41 * 8, rng, 0.5), ht = randn(40, rng, 1.0), Wt = randn(41 * 8, rng, 0.5);
  std::vector<int> tg = {1, 2, 3, 4, 5}, mask(5, 1);
  Result r = unfused(*ops, c, h, W, ht, Wt, tg, mask, 0.2, 0.1);
  std::vector<double> kl(5), ce(5);
  VocabLoss<double> a;
  a.M = 5, a.D = 8, a.Dt = 8, a.V = 41, a.block_rows = 2, a.tau = 2.0f;
  a.h = h.data(), a.W = W.data(), a.ht = ht.data(), a.Wt = Wt.data(), a.targets = tg.data(), a.kl = kl.data(),
  a.ce = ce.data();
  ops->vocab_loss(a);
  CHECK(max_rel(kl, r.kl) < 1e-12);
  CHECK(max_rel(ce, r.ce) < 1e-12);
}

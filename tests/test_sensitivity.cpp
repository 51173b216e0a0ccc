// Per-module sensitivity probes (compress/sensitivity.h) and the held-out divergence that skips the
// layers a probe shares with the dense model (compress/heldout_loss.h).
#include <cmath>
#include <random>

#include "engine/encoder.h"
#include "engine/error.h"
#include "engine/eval/log_softmax.h"
#include "engine/forward.h"
#include "models/import.h"
#include "compress/heldout_loss.h"
#include "compress/sensitivity.h"
#include "compress/slice.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

// Windows of random token ids (above the first few, special ones), lengths[k] tokens each.
std::vector<std::vector<int>> random_windows(const ModelConfig& c, uint32_t seed, const std::vector<int>& lengths) {
  std::mt19937 rng(seed);
  std::vector<std::vector<int>> windows;
  for (int n : lengths) {
    std::vector<int> w;
    for (int i = 0; i < n; i++) w.push_back(5 + int(rng() % uint32_t(c.vocab_size - 5)));
    windows.push_back(w);
  }
  return windows;
}

// `dense` with every `stride`-th FFN neuron of layer `l` kept (attention whole): the layers
// below `l` are the dense ones.
Model thin_ffn(const Model& dense, int l, int stride) {
  const LayerShape& s = dense.config.layers[size_t(l)];
  LayerSlice ls;
  for (int k = 0; k < s.n_kv_heads(); k++) ls.kv_heads.push_back(k);
  for (int i = 0; i < s.ffn_dim / stride; i++) ls.ffn_neurons.push_back(stride * i);
  SliceSpec spec;
  spec[l] = ls;
  return slice_model(dense, spec);
}

ModuleLevels grid_module(int levels, double scale) {
  ModuleLevels ml;
  for (int j = 0; j < levels; ++j) {
    double kept = 1.0 - double(j) / (levels - 1);
    ml.density.push_back(kept);
    ml.time.push_back(0.05 + kept);
    ml.error.push_back(scale * (1 - kept) * (1 - kept));
  }
  return ml;
}

}  // namespace

TEST_CASE("sensitivity: probe level is the pruned level nearest the density, ties to the denser") {
  ModuleLevels m = grid_module(5, 1.0);  // densities 1, .75, .5, .25, 0
  CHECK(probe_level(m, 0.5) == 2);
  CHECK(probe_level(m, 0.6) == 2);
  CHECK(probe_level(m, 0.625) == 1);
  CHECK(probe_level(m, 0.99) == 1);  // never the dense level
  CHECK(probe_level(m, 0.0) == 4);
  ModuleLevels single;
  single.time = {0.1}, single.error = {0}, single.density = {0};  // a removed module: one level
  CHECK(probe_level(single, 0.5) == -1);
}

TEST_CASE("sensitivity: probes recover a hidden linear loss, and the DP centred on them is its optimum") {
  // The "real" loss is Σ w_m·e_m with hidden weights; error curves differ per module.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> U(0.0, 1.0);
  std::vector<ModuleLevels> mods;
  std::vector<double> w;
  for (int m = 0; m < 12; ++m) {
    mods.push_back(grid_module(9, 0.5 + U(rng)));
    w.push_back(std::exp(3 * (U(rng) - 0.5)));
  }
  auto loss = [&](const std::vector<int>& lv) {
    double l = 0;
    for (size_t m = 0; m < mods.size(); ++m) l += w[m] * mods[m].error[size_t(lv[m])];
    return l;
  };
  int calls = 0;
  std::vector<std::pair<int, int>> prog;
  auto probes = probe_sensitivity(
      mods, 0.5,
      [&](size_t m, int level) {
        calls++;
        std::vector<int> lv(mods.size(), 0);
        lv[m] = level;
        return loss(lv);
      },
      [&](int d, int t) { prog.emplace_back(d, t); });
  CHECK(calls == 12);
  REQUIRE(prog.size() == 12);
  CHECK(prog.back() == std::make_pair(12, 12));
  std::vector<double> c = probe_coefficients(probes);
  for (size_t m = 0; m < mods.size(); ++m) {
    CHECK(probes[m].level == 4);
    CHECK(c[m] == doctest::Approx(w[m]).epsilon(1e-12));
  }

  double dense = 0;
  for (const auto& ml : mods) dense += ml.time[0];
  const double budget = 0.5 * dense;
  Choice opt = solve_dp(mods, w, budget);
  SpdyOptions so;
  so.evaluations = 10;
  so.base = c;
  SpdyResult r = spdy_search(mods, budget, loss, so);
  CHECK(r.base_loss == doctest::Approx(opt.cost).epsilon(1e-12));  // evaluation 2 is the optimum
  CHECK(r.best_loss == doctest::Approx(opt.cost).epsilon(1e-12));
  CHECK(r.base_loss < r.dp_only_loss);  // c = 1 is not
  CHECK(r.dp_only.level == solve_dp(mods, std::vector<double>(mods.size(), 1.0), budget).level);

  so.base = {1.0, 2.0};
  CHECK_THROWS_AS(spdy_search(mods, budget, loss, so), Error);
  so.base.assign(mods.size(), 1.0);
  so.base[3] = 0;
  CHECK_THROWS_AS(spdy_search(mods, budget, loss, so), Error);
}

TEST_CASE("sensitivity: degenerate probes get floors and fills, JSON round trip") {
  std::vector<ModuleLevels> mods = {grid_module(5, 1.0), grid_module(5, 1.0), grid_module(5, 0.0), grid_module(5, 1.0)};
  ModuleLevels single;
  single.time = {0.1}, single.error = {0}, single.density = {0};
  mods.push_back(single);
  std::vector<double> kl = {0.2, 0.0, 0.5, 0.1, 9.0};
  auto probes = probe_sensitivity(mods, 0.5, [&](size_t m, int) { return kl[m]; });
  CHECK(probes[4].level == -1);
  // Error 0.25 at the probe; module 2 has no error (nothing to learn): median fill; module 1's KL
  // of 0 is raised to 1e-6 × the median KL, so removing it is never free.
  CHECK(probes[0].coef == doctest::Approx(0.8));
  CHECK(probes[3].coef == doctest::Approx(0.4));
  CHECK(probes[1].coef == doctest::Approx(1e-6 * 0.1 / 0.25));
  CHECK(probes[1].coef > 0);
  CHECK(probes[2].coef == doctest::Approx(0.4));  // median of {0.8, 4e-7, 0.4}
  CHECK(probes[4].coef == doctest::Approx(0.4));
  auto back = probes_from_json(nlohmann::json::parse(probes_to_json(probes).dump()));
  REQUIRE(back.size() == probes.size());
  for (size_t m = 0; m < probes.size(); ++m) {
    CHECK(back[m].level == probes[m].level);
    CHECK(back[m].coef == probes[m].coef);
  }
  CHECK_THROWS_AS(probes_from_json(nlohmann::json::object()), Error);
  CHECK_THROWS(probes_from_json(nlohmann::json::parse(R"([{"level": 1}])")));
}

TEST_CASE("sensitivity: shrinking coefficients toward their median") {
  std::vector<double> c = {1, 4, 16};  // median 4
  CHECK(shrink_toward_median(c, 1.0) == c);
  for (double x : shrink_toward_median(c, 0.0)) CHECK(x == doctest::Approx(4));
  std::vector<double> h = shrink_toward_median(c, 0.5);  // geometric midpoints to the median
  CHECK(h[0] == doctest::Approx(2));
  CHECK(h[1] == doctest::Approx(4));
  CHECK(h[2] == doctest::Approx(8));
  CHECK_THROWS_AS(shrink_toward_median(c, 1.5), Error);
  CHECK_THROWS_AS(shrink_toward_median({1, 0, 2}, 0.5), Error);
}

TEST_CASE("sensitivity: held-out divergence skipping the shared layers equals the full pass") {
  for (const char* name : {"models/stories260K/stories260K.bin", "models/tiny-random-bert"}) {
    CAPTURE(name);
    Model dense = import_model(ztest::shared(name), {});
    const ModelConfig& c = dense.config;
    std::vector<std::vector<int>> windows = random_windows(c, 3, {24, 24, 24});
    HeldoutLoss h(dense, windows, 2);
    const int L = c.n_layers();
    // Prune the FFN of the last-but-one layer to half its neurons: layers below are unchanged.
    const int l = L - 2;
    Model m = thin_ffn(dense, l, 2);
    double full = h.divergence(m, 0);
    CHECK(full > 1e-6);
    CHECK(h.divergence(m, l) == doctest::Approx(full).epsilon(1e-5));
    CHECK(h.divergence(m, 1) == doctest::Approx(full).epsilon(1e-5));
    CHECK(std::abs(h.divergence(dense, l)) < 1e-6);
    if (c.info().causal) {
      CHECK(h.kl(m) == doctest::Approx(full).epsilon(1e-12));
      double kl = 0;  // from the loss's own pass
      CHECK(h.loss(m, &kl) == doctest::Approx(h.loss(m)).epsilon(1e-12));
      CHECK(kl == doctest::Approx(full).epsilon(1e-12));
      // Direct: mean over every row of Σ p (log p − log q) from both models' logits.
      auto be = make_cpu_backend(1);
      double sum = 0;
      size_t rows = 0;
      const int V = c.vocab_size;
      for (const auto& w : windows) {
        InferenceContext cd(dense, *be), cm(m, *be);
        const float* zd = cd.eval(w, true);
        const float* zm = cm.eval(w, true);
        for (size_t i = 0; i < w.size(); i++, rows++) {
          double ld = log_softmax(zd + i * size_t(V), V, nullptr), lm = log_softmax(zm + i * size_t(V), V, nullptr);
          for (int v = 0; v < V; v++) {
            double lp = zd[i * size_t(V) + size_t(v)] - ld, lq = zm[i * size_t(V) + size_t(v)] - lm;
            sum += std::exp(lp) * (lp - lq);
          }
        }
      }
      CHECK(full == doctest::Approx(sum / double(rows)).epsilon(1e-5));
    }
    // Only the first window.
    HeldoutLoss one(dense, {windows[0]}, 2);
    CHECK(h.divergence(m, l, 1) == doctest::Approx(one.divergence(m, 0)).epsilon(1e-5));
    CHECK_THROWS_AS(h.divergence(m, L + 1), Error);
  }
}

TEST_CASE("held-out loss: the loss-only window set gives the same loss and refuses divergences") {
  Model dense = import_model(ztest::shared("models/stories260K/stories260K.bin"), {});
  std::vector<std::vector<int>> windows = random_windows(dense.config, 5, {24, 16, 24});
  HeldoutLoss full(dense, windows, 2), lean(dense, windows, 2, EncoderLoss::Tokens, /*keep_dense_probs=*/false);
  Model m = thin_ffn(dense, 1, 2);
  CHECK(lean.dense_loss() == doctest::Approx(full.dense_loss()).epsilon(1e-12));
  CHECK(lean.loss(m) == doctest::Approx(full.loss(m)).epsilon(1e-12));
  CHECK(lean.loss(m) != doctest::Approx(lean.dense_loss()).epsilon(1e-9));  // the thinning shows
  CHECK_THROWS_AS(lean.divergence(m, 0), Error);
  double kl = 0;
  CHECK_THROWS_AS(lean.loss(m, &kl), Error);
}

TEST_CASE("sensitivity: pooled encoder divergence is 1 - cos of the mean-pooled embeddings") {
  Model dense = import_model(ztest::shared("models/tiny-random-bert"), {});
  const ModelConfig& c = dense.config;
  std::vector<std::vector<int>> windows = random_windows(c, 5, {10, 13, 16, 19});
  HeldoutLoss pooled(dense, windows, 2, EncoderLoss::Pooled), tokens(dense, windows, 2, EncoderLoss::Tokens);
  const int l = c.n_layers() - 1;
  Model m = thin_ffn(dense, l, 3);
  // Direct: per window, mean-pool both models' final hidden states and take 1 - cos.
  auto be = make_cpu_backend(1);
  double sum = 0;
  for (const auto& w : windows) {
    InferenceContext cd(dense, *be), cm(m, *be);
    std::vector<float> ed = mean_pool(cd.encode(w.data(), nullptr, int(w.size())), int(w.size()), c.dim);
    std::vector<float> em = mean_pool(cm.encode(w.data(), nullptr, int(w.size())), int(w.size()), c.dim);
    double dot = 0, a = 0, b = 0;
    for (int j = 0; j < c.dim; j++) dot += double(ed[size_t(j)]) * em[size_t(j)], a += double(ed[size_t(j)]) * ed[size_t(j)], b += double(em[size_t(j)]) * em[size_t(j)];
    sum += 1.0 - dot / std::sqrt(a * b);
  }
  const double direct = sum / double(windows.size());
  CHECK(direct > 1e-7);
  CHECK(pooled.divergence(m, 0) == doctest::Approx(direct).epsilon(1e-4));
  CHECK(pooled.loss(m) == doctest::Approx(direct).epsilon(1e-4));
  CHECK(pooled.divergence(m, l) == doctest::Approx(direct).epsilon(1e-4));  // skipping shared layers
  CHECK(std::abs(pooled.divergence(dense, 0)) < 1e-6);
  // Pooling averages token errors out: the pooled loss is not the token-level one.
  CHECK(tokens.divergence(m, 0) != doctest::Approx(direct).epsilon(1e-3));
}


TEST_CASE("held-out loss: the similarity loss is 1 - Pearson of the pairwise embedding cosines") {
  Model dense = import_model(ztest::shared("models/tiny-random-bert"), {});
  const ModelConfig& c = dense.config;
  std::vector<std::vector<int>> windows = random_windows(c, 7, {9, 12, 15, 18, 11, 14});
  HeldoutLoss sim(dense, windows, 2, EncoderLoss::Similarity);
  const int l = c.n_layers() - 1;
  Model m = thin_ffn(dense, l, 3);
  // Direct: mean-pooled embeddings of both models, cosines of every pair, then Pearson's r.
  auto be = make_cpu_backend(1);
  std::vector<std::vector<float>> ed, em;
  for (const auto& w : windows) {
    InferenceContext cd(dense, *be), cm(m, *be);
    ed.push_back(mean_pool(cd.encode(w.data(), nullptr, int(w.size())), int(w.size()), c.dim));
    em.push_back(mean_pool(cm.encode(w.data(), nullptr, int(w.size())), int(w.size()), c.dim));
  }
  auto cosines = [&](const std::vector<std::vector<float>>& e, size_t n) {
    std::vector<double> out;
    for (size_t i = 0; i < n; i++)
      for (size_t j = i + 1; j < n; j++) {
        double dot = 0, a = 0, b = 0;
        for (int d = 0; d < c.dim; d++)
          dot += double(e[i][size_t(d)]) * e[j][size_t(d)], a += double(e[i][size_t(d)]) * e[i][size_t(d)],
              b += double(e[j][size_t(d)]) * e[j][size_t(d)];
        out.push_back(dot / std::sqrt(a * b));
      }
    return out;
  };
  auto one_minus_r = [&](size_t n) {
    std::vector<double> x = cosines(em, n), y = cosines(ed, n);
    const double k = double(x.size());
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < x.size(); i++)
      sx += x[i], sy += y[i], sxx += x[i] * x[i], syy += y[i] * y[i], sxy += x[i] * y[i];
    return 1.0 - (sxy - sx * sy / k) / std::sqrt((sxx - sx * sx / k) * (syy - sy * sy / k));
  };
  const double direct = one_minus_r(windows.size());
  CHECK(direct > 1e-7);
  CHECK(sim.loss(m) == doctest::Approx(direct).epsilon(1e-3).scale(0));
  CHECK(sim.divergence(m, 0) == doctest::Approx(direct).epsilon(1e-3).scale(0));
  CHECK(sim.divergence(m, l) == doctest::Approx(direct).epsilon(1e-3).scale(0));  // skipping shared layers
  CHECK(sim.divergence(m, 0, 4) == doctest::Approx(one_minus_r(4)).epsilon(1e-3).scale(0));  // the first 4 windows
  CHECK(std::abs(sim.loss(dense)) < 1e-9);
  CHECK_THROWS_AS(sim.divergence(m, 0, 2), Error);  // one pair has no correlation
}

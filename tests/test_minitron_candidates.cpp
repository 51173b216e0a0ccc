// The Minitron architecture search's candidate enumerator (prune/minitron/candidates.h) against
// a brute-force enumeration over every integer shape, and its parameter count against the
// models prune_uniform builds.
#include <set>
#include <tuple>

#include "compress/minitron_latency.h"
#include "compress/run.h"
#include "engine/config.h"
#include "models/import.h"
#include "prune/minitron/candidates.h"
#include "prune/minitron/importance.h"
#include "prune/minitron/shape.h"
#include "tests/test_util.h"

using namespace zip;
using namespace zip::minitron;

namespace {

using Key = std::tuple<int, int, int, int, int>;
Key key(const UniformShape& s) { return {s.n_layers, s.n_kv_heads, s.q_per_kv, s.ffn_dim, s.dim}; }

// stories260K's shape: 5 layers, 4 KV groups of 2 query heads, FFN 172, hidden 64.
ModelConfig small_config() {
  ModelConfig c;
  c.arch = Arch::Llama, c.dim = 64, c.vocab_size = 512, c.max_seq_len = 512, c.head_dim = 8, c.tied_embeddings = true;
  c.layers.assign(5, uniform_layer(8, 4, 172));
  return c;
}

// Every integer shape up to the dense one, kept when on the grids and within the band.
std::set<Key> brute_force(const UniformShape& d, int ffn_step, int dim_step, const std::function<double(const UniformShape&)>& cost,
                          double budget, double tol) {
  std::set<Key> out;
  for (int n = 1; n <= d.n_layers; n++)
    for (int kv = 1; kv <= d.n_kv_heads; kv++)
      for (int q = 1; q <= d.q_per_kv; q++)
        for (int f = 1; f <= d.ffn_dim; f++)
          for (int m = 1; m <= d.dim; m++) {
            if (!(f % ffn_step == 0 || f == d.ffn_dim) || !(m % dim_step == 0 || m == d.dim)) continue;
            const UniformShape s{n, kv, q, f, m};
            const double c = cost(s);
            if (c >= budget * (1 - tol) && c <= budget * (1 + tol)) out.insert(key(s));
          }
  return out;
}

}  // namespace

TEST_CASE("minitron candidates: axis grids") {
  CHECK(axis_grid(172, 32) == std::vector<int>{32, 64, 96, 128, 160, 172});
  CHECK(axis_grid(64, 16) == std::vector<int>{16, 32, 48, 64});
  CHECK(axis_grid(64, 64) == std::vector<int>{64});
  CHECK(axis_grid(64, 100) == std::vector<int>{64});
}

TEST_CASE("minitron candidates: every shape within ±5 % of the budget and nothing else (brute force)") {
  const ModelConfig c = small_config();
  const UniformShape d = uniform_shape_of(c);
  const ShapeAxes axes = shape_axes(d, 32, 16);
  auto params = [&](const UniformShape& s) { return double(uniform_params(c, s)); };
  // A made-up time: fixed + per layer (attention by heads, FFN by width), scaled by the hidden size.
  auto time = [](const UniformShape& s) {
    return (1.0 + s.n_layers * (0.2 * s.n_kv_heads * s.q_per_kv + 0.05 * s.n_kv_heads + 0.01 * s.ffn_dim)) * (0.3 + 0.7 * s.dim / 64.0);
  };
  const double dense_params = double(c.n_params()), dense_time = time(d);
  int total = 0;
  for (double frac : {0.2, 0.35, 0.5, 0.65, 0.8, 0.95}) {
    for (const auto& [cost, dense] : {std::pair{std::function<double(const UniformShape&)>(params), dense_params},
                                      std::pair{std::function<double(const UniformShape&)>(time), dense_time}}) {
      const double budget = frac * dense;
      const std::vector<Candidate> got = enumerate_candidates(axes, cost, budget, 0.05);
      std::set<Key> got_keys;
      for (const Candidate& k : got) {
        CHECK(k.cost == cost(k.shape));
        got_keys.insert(key(k.shape));
      }
      CHECK(got_keys.size() == got.size());  // no shape twice
      CHECK(got_keys == brute_force(d, 32, 16, cost, budget, 0.05));
      total += int(got.size());
    }
  }
  CHECK(total > 100);  // the bands are not empty
  // The dense shape is its own only candidate at a zero tolerance with its own cost as budget.
  const std::vector<Candidate> dense_only = enumerate_candidates(axes, params, dense_params, 0.0);
  REQUIRE(dense_only.size() == 1);
  CHECK(key(dense_only[0].shape) == key(d));
}

TEST_CASE("minitron candidates: the parameter count equals the pruned model's") {
  const Model m = import_model(ztest::shared("models/stories260K/stories260K.bin"), {});
  CHECK(uniform_params(m.config, uniform_shape_of(m.config)) == weight_count(m));
  // Importance from a few made-up windows is enough: the count does not depend on which channels stay.
  std::vector<std::vector<int>> windows;
  for (int w = 0; w < 2; w++) {
    std::vector<int> t = {1};
    for (int i = 1; i < 16; i++) t.push_back(3 + (i * 7 + w * 13) % 500);
    windows.push_back(t);
  }
  ImportanceOptions io;
  const Importance imp = compute_importance(m, windows, windows, io);
  for (const UniformShape& s : {UniformShape{5, 4, 2, 172, 64}, UniformShape{3, 2, 1, 96, 48}, UniformShape{1, 1, 1, 32, 16},
                                UniformShape{4, 4, 1, 160, 32}}) {
    const Model p = prune_uniform(m, imp, s, DepthScore::DropLoss);
    CHECK(uniform_params(m.config, s) == weight_count(p));
    CHECK(p.config == uniform_config(m.config, s));
  }
}

TEST_CASE("minitron latency: the least-squares line") {
  auto [a, b] = fit_line({0.25, 0.5, 0.75, 1.0}, {0.4, 0.6, 0.8, 1.0});
  CHECK(a == doctest::Approx(0.2));
  CHECK(b == doctest::Approx(0.8));
  std::tie(a, b) = fit_line({1.0}, {3.0});
  CHECK(a == doctest::Approx(3.0));
  CHECK(b == 0);
  // Noisy points: the residuals of the fit sum to zero and are orthogonal to x.
  const std::vector<double> x = {0.2, 0.4, 0.5, 0.9, 1.0}, y = {0.31, 0.52, 0.58, 0.97, 1.02};
  std::tie(a, b) = fit_line(x, y);
  double r0 = 0, r1 = 0;
  for (size_t i = 0; i < x.size(); i++) r0 += y[i] - a - b * x[i], r1 += (y[i] - a - b * x[i]) * x[i];
  CHECK(std::abs(r0) < 1e-12);
  CHECK(std::abs(r1) < 1e-12);
}

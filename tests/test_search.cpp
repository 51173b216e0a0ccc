// ZipLM search: the knapsack DP against exhaustive enumeration, infeasibility and max speedup,
// the SPDY coefficient search on a synthetic loss, and the uniform-density baseline.
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "compress/search.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

double u01(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

ModuleLevels random_module(std::mt19937_64& rng, int levels) {
  ModuleLevels ml;
  for (int j = 0; j < levels; ++j) {
    ml.time.push_back(u01(rng) < 0.2 ? 0.0 : u01(rng));
    ml.error.push_back(j == 0 ? 0.0 : u01(rng));
  }
  return ml;
}

// Independent exhaustive minimum of sum coef*e over choices with sum ceil(t/unit) <= buckets.
struct Exhaustive {
  const std::vector<ModuleLevels>& mods;
  const std::vector<double>& coef;
  double unit;
  int buckets;
  double best = INFINITY;
  void go(size_t m, long long q, double cost) {
    if (q > buckets) return;
    if (m == mods.size()) {
      best = std::min(best, cost);
      return;
    }
    for (size_t j = 0; j < mods[m].time.size(); ++j)
      go(m + 1, q + static_cast<long long>(std::ceil(mods[m].time[j] / unit)),
         cost + coef[m] * mods[m].error[j]);
  }
};

bool close(double a, double b) { return std::fabs(a - b) <= 1e-12 * (1 + std::fabs(a)); }

}  // namespace

TEST_CASE("search: DP matches brute force on random instances") {
  std::mt19937_64 rng(12345);
  int feasible = 0, infeasible = 0;
  for (int inst = 0; inst < 200; ++inst) {
    int M = 2 + static_cast<int>(rng() % 4);
    std::vector<ModuleLevels> mods;
    std::vector<double> coef;
    double tmax = 0;
    for (int m = 0; m < M; ++m) {
      mods.push_back(random_module(rng, 2 + static_cast<int>(rng() % 5)));
      coef.push_back(0.5 + 1.5 * u01(rng));
      tmax += *std::max_element(mods.back().time.begin(), mods.back().time.end());
    }
    double budget = inst % 20 == 0 ? -0.1 * u01(rng) : (1.1 * u01(rng)) * tmax;
    int buckets = inst % 2 ? 50 : 10000;
    INFO("instance " << inst << " M=" << M << " budget=" << budget << " buckets=" << buckets);

    Choice dp = solve_dp(mods, coef, budget, buckets);
    Choice bf = solve_brute_force(mods, coef, budget, buckets);
    double ref = INFINITY;
    if (budget > 0) {
      Exhaustive ex{mods, coef, budget / buckets, buckets};
      ex.go(0, 0, 0.0);
      ref = ex.best;
    }
    REQUIRE(dp.feasible == std::isfinite(ref));
    REQUIRE(bf.feasible == dp.feasible);
    if (!dp.feasible) {
      ++infeasible;
      continue;
    }
    ++feasible;
    CHECK(close(dp.cost, ref));
    CHECK(close(bf.cost, ref));
    // The reported cost/time are the chosen levels' sums, and the choice fits the budget both
    // quantised and as measured.
    REQUIRE(dp.level.size() == mods.size());
    auto q = quantise_times(mods, budget, buckets);
    long long qs = 0;
    double t = 0, c = 0;
    for (int m = 0; m < M; ++m) {
      size_t j = static_cast<size_t>(dp.level[static_cast<size_t>(m)]);
      qs += q[static_cast<size_t>(m)][j];
      t += mods[static_cast<size_t>(m)].time[j];
      c += coef[static_cast<size_t>(m)] * mods[static_cast<size_t>(m)].error[j];
    }
    CHECK(qs <= buckets);
    CHECK(t <= budget * (1 + 1e-12));
    CHECK(close(dp.time, t));
    CHECK(close(dp.cost, c));
  }
  CHECK(feasible > 50);
  CHECK(infeasible > 10);
}

TEST_CASE("search: quantisation rounds up") {
  std::mt19937_64 rng(7);
  std::vector<ModuleLevels> mods{random_module(rng, 20), random_module(rng, 20)};
  double budget = 1.7;
  int buckets = 100;
  auto q = quantise_times(mods, budget, buckets);
  double unit = budget / buckets;
  for (size_t m = 0; m < mods.size(); ++m)
    for (size_t j = 0; j < mods[m].time.size(); ++j) {
      double t = mods[m].time[j];
      CHECK(q[m][j] * unit >= t * (1 - 1e-12));
      CHECK((q[m][j] - 1) * unit < t + 1e-15);
    }
  mods[0].time[3] = 10.0;  // far over the budget: clamped to buckets + 1
  CHECK(quantise_times(mods, budget, buckets)[0][3] == buckets + 1);
}

TEST_CASE("search: infeasible budgets, max speedup, bad input") {
  // Module A: times 4 (dense), 2, 1; module B: times 6, 3. Min total 4.
  std::vector<ModuleLevels> mods{{{4, 2, 1}, {0, 0.1, 0.5}, {}}, {{6, 3}, {0, 0.2}, {}}};
  std::vector<double> one{1, 1};
  CHECK_FALSE(solve_dp(mods, one, 0.0).feasible);
  CHECK_FALSE(solve_dp(mods, one, -1.0).feasible);
  CHECK_FALSE(solve_dp(mods, one, 3.99).feasible);
  Choice c = solve_dp(mods, one, 4.01);
  REQUIRE(c.feasible);
  CHECK(c.level == std::vector<int>{2, 1});
  CHECK(c.time == 4.0);
  CHECK(close(c.cost, 0.7));
  // Budget 5.5: {1 (t2,e.1), 1 (t3,e.2)} = 0.3 beats {2, 1} = 0.7; {0, 1} needs 7.
  c = solve_dp(mods, one, 5.5);
  CHECK(c.level == std::vector<int>{1, 1});
  // Everything fits: the dense choice, zero cost.
  c = solve_dp(mods, one, 100.0);
  CHECK(c.level == std::vector<int>{0, 0});
  CHECK(c.cost == 0.0);

  // T_dense = 20, T_fixed = 10 (prunable dense 4 + 6): max = 20 / (10 + 1 + 3).
  CHECK(max_speedup(mods, 20, 10) == doctest::Approx(20.0 / 14.0));
  CHECK(budget_for_speedup(20, 10, 1.25) == doctest::Approx(6.0));
  // The largest speedup's budget is exactly the minimum times (feasible just above it).
  double s = max_speedup(mods, 20, 10);
  CHECK(budget_for_speedup(20, 10, s) == doctest::Approx(4.0));
  CHECK_FALSE(solve_dp(mods, one, budget_for_speedup(20, 10, s * 1.01)).feasible);
  CHECK(solve_dp(mods, one, budget_for_speedup(20, 10, s * 0.99)).feasible);

  CHECK_THROWS_AS(solve_dp(mods, {1.0}, 5.0), Error);
  CHECK_THROWS_AS(solve_dp(mods, {1.0, -1.0}, 5.0), Error);
  CHECK_THROWS_AS(solve_dp(mods, one, NAN), Error);
  CHECK_THROWS_AS(solve_dp(mods, one, 5.0, 0), Error);
  auto bad = mods;
  bad[1].error.pop_back();
  CHECK_THROWS_AS(solve_dp(bad, one, 5.0), Error);
  bad = mods;
  bad[0].time[1] = -1;
  CHECK_THROWS_AS(solve_dp(bad, one, 5.0), Error);
}

namespace {

// 8 modules with identical error curves; the first four matter 4x more to the "real" loss than
// the last four. With c = 1 the DP prunes all modules alike; the optimum prunes the cheap ones.
std::vector<ModuleLevels> spdy_instance(std::vector<double>& w) {
  std::vector<ModuleLevels> mods;
  w.clear();
  for (int m = 0; m < 8; ++m) {
    ModuleLevels ml;
    for (int j = 0; j <= 8; ++j) {
      double kept = 1.0 - j / 8.0;
      ml.time.push_back(0.1 + kept * (1.0 + 0.05 * m));
      ml.error.push_back((1 - kept) * (1 - kept) * (1.0 + 0.03 * m));
    }
    mods.push_back(ml);
    w.push_back(m < 4 ? 4.0 : 1.0);
  }
  return mods;
}

}  // namespace

TEST_CASE("search: SPDY improves on DP-only, respects the evaluation budget, is deterministic") {
  std::vector<double> w;
  auto mods = spdy_instance(w);
  double dense = 0;
  for (const auto& ml : mods) dense += ml.time[0];
  double budget = 0.55 * dense;
  auto true_loss = [&](const std::vector<int>& lv) {
    double l = 0;
    for (size_t m = 0; m < mods.size(); ++m) l += w[m] * mods[m].error[static_cast<size_t>(lv[m])];
    return l;
  };

  auto run = [&](uint64_t seed, std::vector<std::vector<int>>& calls,
                 std::vector<std::pair<int, int>>& prog) {
    SpdyOptions opt;
    opt.seed = seed;
    opt.progress = [&](int d, int t) { prog.emplace_back(d, t); };
    return spdy_search(
        mods, budget,
        [&](const std::vector<int>& lv) {
          calls.push_back(lv);
          return true_loss(lv);
        },
        opt);
  };
  std::vector<std::vector<int>> calls, calls2;
  std::vector<std::pair<int, int>> prog, prog2;
  SpdyResult r = run(1, calls, prog);

  // DP-only is the plain DP with c = 1, evaluated first.
  Choice dp1 = solve_dp(mods, std::vector<double>(8, 1.0), budget);
  REQUIRE(r.dp_only.feasible);
  CHECK(r.dp_only.level == dp1.level);
  CHECK(r.dp_only_loss == true_loss(dp1.level));
  REQUIRE(!calls.empty());
  CHECK(calls[0] == dp1.level);

  // Budget of distinct evaluations, no vector evaluated twice, progress per evaluation.
  CHECK(r.evaluations == static_cast<int>(calls.size()));
  CHECK(r.evaluations <= 30);
  CHECK(std::set<std::vector<int>>(calls.begin(), calls.end()).size() == calls.size());
  REQUIRE(prog.size() == calls.size());
  for (size_t i = 0; i < prog.size(); ++i) CHECK(prog[i] == std::make_pair(int(i) + 1, 30));
  CHECK(r.solves >= r.evaluations);
  CHECK(r.solves <= 600);

  // The best is the minimum over what was evaluated, fits, and is reproduced by its coefficients.
  double min_seen = INFINITY;
  for (const auto& lv : calls) min_seen = std::min(min_seen, true_loss(lv));
  CHECK(r.best_loss == min_seen);
  CHECK(r.best_loss == true_loss(r.best.level));
  CHECK(r.best.time <= budget);
  CHECK(solve_dp(mods, r.coef, budget).level == r.best.level);
  // c = 1 is wrong here: strictly better than DP-only, and no better than the true optimum.
  CHECK(r.best_loss < r.dp_only_loss);
  Choice opt = solve_dp(mods, w, budget);
  CHECK(r.best_loss >= opt.cost - 1e-12);
  MESSAGE("dp-only " << r.dp_only_loss << " spdy " << r.best_loss << " optimum " << opt.cost
                     << " evals " << r.evaluations << " solves " << r.solves);

  // Same seed, same everything; another seed still beats DP-only.
  SpdyResult r2 = run(1, calls2, prog2);
  CHECK(calls2 == calls);
  CHECK(r2.best.level == r.best.level);
  CHECK(r2.coef == r.coef);
  CHECK(r2.best_loss == r.best_loss);
  std::vector<std::vector<int>> calls3;
  std::vector<std::pair<int, int>> prog3;
  SpdyResult r3 = run(99, calls3, prog3);
  CHECK(r3.best_loss < r3.dp_only_loss);
}

TEST_CASE("search: SPDY on few distinct solutions and infeasible budgets") {
  // Two modules, two levels: at most 4 level vectors exist, so the search must stop on the
  // solve cap with fewer evaluations than asked.
  std::vector<ModuleLevels> mods{{{2, 1}, {0, 1}, {}}, {{2, 1}, {0, 2}, {}}};
  int calls = 0;
  auto loss = [&](const std::vector<int>& lv) {
    ++calls;
    return static_cast<double>(lv[0] * 3 + lv[1]);
  };
  SpdyResult r = spdy_search(mods, 3.01, loss);
  CHECK(r.evaluations == calls);
  CHECK(r.evaluations <= 2);  // only {1,0} and {0,1} fit 3.01 with c > 0 (dense does not fit)
  CHECK(r.solves == 600);
  CHECK(r.best_loss == 1.0);
  CHECK(r.best.level == std::vector<int>{0, 1});

  calls = 0;
  SpdyResult inf = spdy_search(mods, 1.5, loss);
  CHECK_FALSE(inf.best.feasible);
  CHECK_FALSE(inf.dp_only.feasible);
  CHECK(inf.evaluations == 0);
  CHECK(calls == 0);
}

TEST_CASE("search: uniform density") {
  // 4 attention modules (8 heads: densities k/8, time = density) and 4 FFNs (16 width levels:
  // k/16, time = 2*density). Total time at a common grid density d: 4*d_a + 8*d_f.
  std::vector<ModuleLevels> mods;
  for (int m = 0; m < 8; ++m) {
    bool attn = m < 4;
    int n = attn ? 8 : 16;
    ModuleLevels ml;
    for (int k = n; k >= 0; --k) {
      double d = static_cast<double>(k) / n;
      ml.density.push_back(d);
      ml.time.push_back(attn ? d : 2 * d);
      ml.error.push_back((1 - d) * (m + 1));
    }
    mods.push_back(ml);
  }
  auto dens = [&](const UniformChoice& u, size_t m) {
    return mods[m].density[static_cast<size_t>(u.level[m])];
  };
  // d = 5/8 = 10/16 costs 2.5 + 5 = 7.5; d = 9/16 (attention rounds up to 5/8): 2.5 + 4.5 = 7;
  // d = 1/2: 2 + 4 = 6.
  UniformChoice u = solve_uniform(mods, 6.9);
  REQUIRE(u.feasible);
  CHECK(u.density == 0.5);
  for (size_t m = 0; m < 8; ++m) CHECK(dens(u, m) == 0.5);
  CHECK(u.time == doctest::Approx(6.0));
  double cost = 0;
  for (size_t m = 0; m < 8; ++m) cost += 0.5 * static_cast<double>(m + 1);
  CHECK(u.cost == doctest::Approx(cost));

  u = solve_uniform(mods, 7.2);
  REQUIRE(u.feasible);
  CHECK(u.density == 9.0 / 16);
  for (size_t m = 0; m < 4; ++m) CHECK(dens(u, m) == 5.0 / 8);
  for (size_t m = 4; m < 8; ++m) CHECK(dens(u, m) == 9.0 / 16);
  CHECK(u.time == doctest::Approx(7.0));
  CHECK(u.time <= 7.2);

  u = solve_uniform(mods, 12.0);  // everything dense
  CHECK(u.density == 1.0);
  CHECK(u.time == doctest::Approx(12.0));
  u = solve_uniform(mods, 1e-9);  // only "all removed" (time 0) fits
  REQUIRE(u.feasible);
  CHECK(u.density == 0.0);
  CHECK_FALSE(solve_uniform(mods, 0.0).feasible);

  auto bad = mods;
  bad[0].density.clear();
  CHECK_THROWS_AS(solve_uniform(bad, 5.0), Error);
  bad = mods;
  bad[0].density[0] = 1.5;
  CHECK_THROWS_AS(solve_uniform(bad, 5.0), Error);
}

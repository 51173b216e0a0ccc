// Multiple-choice knapsack DP, brute-force reference, uniform baseline and SPDY coefficient search.
#include "compress/search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>

#include "engine/error.h"

namespace zip {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void check_mods(const std::vector<ModuleLevels>& mods, bool need_density) {
  for (size_t m = 0; m < mods.size(); ++m) {
    const ModuleLevels& ml = mods[m];
    size_t n = ml.time.size();
    ZIP_CHECK(n > 0, "search: module {} has no level", m);
    ZIP_CHECK(n <= 32767, "search: module {} has {} levels (at most 32767)", m, n);
    ZIP_CHECK(ml.error.size() == n, "search: module {} has {} times but {} errors", m, n,
              ml.error.size());
    ZIP_CHECK(!need_density || ml.density.size() == n,
              "search: module {} has {} times but {} densities", m, n, ml.density.size());
    ZIP_CHECK(ml.density.empty() || ml.density.size() == n,
              "search: module {} has {} times but {} densities", m, n, ml.density.size());
    for (size_t j = 0; j < n; ++j) {
      ZIP_CHECK(std::isfinite(ml.time[j]) && ml.time[j] >= 0,
                "search: module {} level {} has bad time {}", m, j, ml.time[j]);
      ZIP_CHECK(std::isfinite(ml.error[j]) && ml.error[j] >= 0,
                "search: module {} level {} has bad error {}", m, j, ml.error[j]);
      if (!ml.density.empty())
        ZIP_CHECK(ml.density[j] >= 0 && ml.density[j] <= 1,
                  "search: module {} level {} has density {} outside [0, 1]", m, j,
                  ml.density[j]);
    }
  }
}

void check_coef(const std::vector<ModuleLevels>& mods, const std::vector<double>& coef) {
  ZIP_CHECK(coef.size() == mods.size(), "search: {} coefficients for {} modules", coef.size(),
            mods.size());
  for (size_t m = 0; m < coef.size(); ++m)
    ZIP_CHECK(std::isfinite(coef[m]) && coef[m] >= 0, "search: coefficient {} is {}", m,
              coef[m]);
}

// Cost and time summed in module order, so DP and brute force report identical numbers.
Choice finish(const std::vector<ModuleLevels>& mods, const std::vector<double>& coef,
              std::vector<int> level) {
  Choice c;
  c.feasible = true;
  for (size_t m = 0; m < mods.size(); ++m) {
    c.cost += coef[m] * mods[m].error[static_cast<size_t>(level[m])];
    c.time += mods[m].time[static_cast<size_t>(level[m])];
  }
  c.level = std::move(level);
  return c;
}

// Uniform double in [0, 1) from the top 53 bits: the same on every platform.
double unit_double(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

}  // namespace

std::vector<std::vector<int>> quantise_times(const std::vector<ModuleLevels>& mods, double budget,
                                             int buckets) {
  ZIP_CHECK(buckets >= 1, "search: buckets must be >= 1, got {}", buckets);
  ZIP_CHECK(std::isfinite(budget) && budget > 0, "search: cannot quantise with budget {}", budget);
  double unit = budget / buckets;
  std::vector<std::vector<int>> q(mods.size());
  for (size_t m = 0; m < mods.size(); ++m) {
    q[m].resize(mods[m].time.size());
    for (size_t j = 0; j < mods[m].time.size(); ++j) {
      double x = std::ceil(mods[m].time[j] / unit);
      q[m][j] = x > buckets ? buckets + 1 : static_cast<int>(x);
    }
  }
  return q;
}

// The arguments both exact solvers take, checked once.
static void check_problem(const std::vector<ModuleLevels>& mods, const std::vector<double>& coef, double budget,
                          int buckets) {
  check_mods(mods, false);
  check_coef(mods, coef);
  ZIP_CHECK(buckets >= 1, "search: buckets must be >= 1, got {}", buckets);
  ZIP_CHECK(std::isfinite(budget), "search: budget is {}", budget);
}

Choice solve_dp(const std::vector<ModuleLevels>& mods, const std::vector<double>& coef,
                double budget, int buckets) {
  check_problem(mods, coef, budget, buckets);
  if (!(budget > 0)) return {};
  auto q = quantise_times(mods, budget, buckets);

  // best[b] = lexicographically smallest (cost, time) over the modules so far with summed
  // quantised time <= b; the "<=" start (all zero) makes every row non-increasing in b.
  size_t nb = static_cast<size_t>(buckets) + 1;
  std::vector<double> pc(nb, 0.0), pt(nb, 0.0), cc(nb), ct(nb);
  std::vector<int16_t> back(mods.size() * nb);
  for (size_t m = 0; m < mods.size(); ++m) {
    std::fill(cc.begin(), cc.end(), kInf);
    std::fill(ct.begin(), ct.end(), kInf);
    int16_t* bk = back.data() + m * nb;
    for (size_t j = 0; j < q[m].size(); ++j) {
      if (q[m][j] > buckets) continue;
      size_t qj = static_cast<size_t>(q[m][j]);
      double ce = coef[m] * mods[m].error[j], te = mods[m].time[j];
      for (size_t b = qj; b < nb; ++b) {
        double c = ce + pc[b - qj], t = te + pt[b - qj];
        // Strict comparisons: on a full tie the lower level (earlier j) stays.
        if (c < cc[b] || (c == cc[b] && t < ct[b])) {
          cc[b] = c;
          ct[b] = t;
          bk[b] = static_cast<int16_t>(j);
        }
      }
    }
    std::swap(pc, cc);
    std::swap(pt, ct);
  }
  if (!(pc[nb - 1] < kInf)) return {};

  std::vector<int> level(mods.size());
  size_t b = nb - 1;
  for (size_t m = mods.size(); m-- > 0;) {
    int j = back[m * nb + b];
    level[m] = j;
    b -= static_cast<size_t>(q[m][static_cast<size_t>(j)]);
  }
  return finish(mods, coef, std::move(level));
}

Choice solve_brute_force(const std::vector<ModuleLevels>& mods, const std::vector<double>& coef,
                         double budget, int buckets) {
  check_problem(mods, coef, budget, buckets);
  if (!(budget > 0)) return {};
  double combos = 1;
  for (const auto& ml : mods) combos *= static_cast<double>(ml.time.size());
  ZIP_CHECK(combos <= 1e7, "search: brute force over {} combinations is too many", combos);
  auto q = quantise_times(mods, budget, buckets);

  size_t M = mods.size();
  std::vector<int> cur(M, 0), best;
  double best_c = kInf, best_t = kInf;
  while (true) {
    long long qs = 0;
    double c = 0, t = 0;
    for (size_t m = 0; m < M; ++m) {
      size_t j = static_cast<size_t>(cur[m]);
      qs += q[m][j];
      c += coef[m] * mods[m].error[j];
      t += mods[m].time[j];
    }
    // Odometer order with module 0 fastest; a strict comparison keeps the first of full ties.
    if (qs <= buckets && (c < best_c || (c == best_c && t < best_t))) {
      best_c = c;
      best_t = t;
      best = cur;
    }
    size_t m = 0;
    while (m < M && ++cur[m] == static_cast<int>(mods[m].time.size())) cur[m++] = 0;
    if (m == M) break;
  }
  if (best.size() != M || !(best_c < kInf)) return {};
  return finish(mods, coef, std::move(best));
}

UniformChoice solve_uniform(const std::vector<ModuleLevels>& mods, double budget) {
  check_mods(mods, true);
  ZIP_CHECK(std::isfinite(budget), "search: budget is {}", budget);
  UniformChoice out;
  if (!(budget > 0)) return out;
  std::vector<double> cand;
  for (const auto& ml : mods) cand.insert(cand.end(), ml.density.begin(), ml.density.end());
  std::sort(cand.begin(), cand.end(), std::greater<double>());
  cand.erase(std::unique(cand.begin(), cand.end()), cand.end());
  if (mods.empty()) cand.push_back(1.0);
  std::vector<double> ones(mods.size(), 1.0);
  for (double d : cand) {
    std::vector<int> level(mods.size(), -1);
    double total = 0;
    bool ok = true;
    for (size_t m = 0; m < mods.size() && ok; ++m) {
      const ModuleLevels& ml = mods[m];
      int pick = -1;
      for (size_t j = 0; j < ml.density.size(); ++j) {
        if (ml.density[j] < d) continue;
        size_t p = static_cast<size_t>(pick);
        if (pick < 0 || ml.density[j] < ml.density[p] ||
            (ml.density[j] == ml.density[p] && ml.time[j] < ml.time[p]))
          pick = static_cast<int>(j);
      }
      ok = pick >= 0;  // a module whose densest level is below d cannot follow d
      if (ok) {
        level[m] = pick;
        total += ml.time[static_cast<size_t>(pick)];
      }
    }
    if (ok && total <= budget) {
      Choice c = finish(mods, ones, std::move(level));
      static_cast<Choice&>(out) = std::move(c);
      out.density = d;
      return out;
    }
  }
  return out;
}

double budget_for_speedup(double t_dense, double t_fixed, double speedup) {
  ZIP_CHECK(speedup > 0, "search: speedup target must be > 0, got {}", speedup);
  return t_dense / speedup - t_fixed;
}

double max_speedup(const std::vector<ModuleLevels>& mods, double t_dense, double t_fixed) {
  check_mods(mods, false);
  double denom = t_fixed;
  for (const auto& ml : mods) denom += *std::min_element(ml.time.begin(), ml.time.end());
  return denom > 0 ? t_dense / denom : kInf;
}

SpdyResult spdy_search(const std::vector<ModuleLevels>& mods, double budget,
                       const std::function<double(const std::vector<int>&)>& loss,
                       const SpdyOptions& opt) {
  ZIP_CHECK(opt.evaluations >= 1, "search: evaluations must be >= 1, got {}", opt.evaluations);
  ZIP_CHECK(opt.restart_fraction >= 0 && opt.restart_fraction <= 1,
            "search: restart fraction must be in [0, 1], got {}", opt.restart_fraction);
  ZIP_CHECK(opt.mutate_fraction >= 0 && opt.mutate_fraction <= 1,
            "search: mutate fraction must be in [0, 1], got {}", opt.mutate_fraction);
  ZIP_CHECK(std::isfinite(opt.coef_range) && opt.coef_range > 1,
            "search: coefficient range must be > 1, got {}", opt.coef_range);
  ZIP_CHECK(static_cast<bool>(loss), "search: no loss function");
  const size_t M = mods.size();
  ZIP_CHECK(opt.base.empty() || opt.base.size() == M, "search: {} base coefficients for {} modules", opt.base.size(), M);
  for (double b : opt.base) ZIP_CHECK(std::isfinite(b) && b > 0, "search: base coefficient {} must be finite and > 0", b);
  auto base = [&](size_t m) { return opt.base.empty() ? 1.0 : opt.base[m]; };
  SpdyResult res;
  res.coef.assign(M, 1.0);
  res.dp_only = solve_dp(mods, res.coef, budget, opt.buckets);
  res.solves = 1;
  if (!res.dp_only.feasible) return res;

  std::map<std::vector<int>, double> cache;
  const int max_solves = 20 * opt.evaluations;
  auto evaluate = [&](const std::vector<int>& lv) {
    auto it = cache.find(lv);
    if (it != cache.end()) return it->second;
    double l = loss(lv);
    if (std::isnan(l)) l = kInf;
    cache.emplace(lv, l);
    ++res.evaluations;
    if (opt.progress) opt.progress(res.evaluations, opt.evaluations);
    return l;
  };
  res.dp_only_loss = evaluate(res.dp_only.level);
  res.best = res.dp_only;
  res.best_loss = res.base_loss = res.dp_only_loss;

  std::mt19937_64 rng(opt.seed);
  const double log_r = std::log(opt.coef_range);
  auto draw = [&] { return std::exp(log_r * (2 * unit_double(rng) - 1)); };
  // Solves for c; evaluates (or looks up) its levels; keeps it if strictly better.
  auto try_coef = [&](const std::vector<double>& c) {
    Choice ch = solve_dp(mods, c, budget, opt.buckets);
    ++res.solves;
    double l = evaluate(ch.level);
    if (l < res.best_loss) {
      res.best = std::move(ch);
      res.best_loss = l;
      res.coef = c;
    }
    return l;
  };

  if (!opt.base.empty() && res.evaluations < opt.evaluations) {
    res.base_loss = try_coef(opt.base);
  }

  const int rest = opt.evaluations - res.evaluations;
  const int n_restart = static_cast<int>(std::lround(opt.restart_fraction * rest));
  const int restart_end = res.evaluations + n_restart;
  while (M > 0 && res.evaluations < restart_end && res.solves < max_solves) {
    std::vector<double> c(M);
    for (size_t m = 0; m < M; m++) c[m] = base(m) * draw();
    try_coef(c);
  }

  const int n_local = opt.evaluations - res.evaluations;
  const int k0 = std::max(1, static_cast<int>(std::lround(opt.mutate_fraction * M)));
  const int local_start = res.evaluations;
  while (M > 0 && res.evaluations < opt.evaluations && res.solves < max_solves) {
    double frac = n_local > 1 ? static_cast<double>(res.evaluations - local_start) / (n_local - 1)
                              : 0.0;
    int k = std::max(1, static_cast<int>(std::lround(k0 - frac * (k0 - 1))));
    // k distinct modules by a partial Fisher-Yates shuffle; modulo bias is negligible.
    std::vector<size_t> idx(M);
    for (size_t i = 0; i < M; ++i) idx[i] = i;
    std::vector<double> c = res.coef;
    for (size_t i = 0; i < static_cast<size_t>(k) && i < M; ++i) {
      size_t r = i + static_cast<size_t>(rng() % (M - i));
      std::swap(idx[i], idx[r]);
      c[idx[i]] = base(idx[i]) * draw();
    }
    try_coef(c);
  }
  return res;
}

}  // namespace zip

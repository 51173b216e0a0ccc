// Runtime-aware search for ZipLM (docs/METHODS.md, "Search"): pick one pruning level per module so the
// summed module time fits a budget and the (weighted) summed error is smallest — a
// multiple-choice knapsack solved by dynamic programming over quantised time — plus the
// SPDY-style outer search that tunes the per-module weights against a real loss, and the
// uniform-density baseline.
//
// A module is one attention or one FFN of a block. Level j of module m has a measured time
// t[m][j] >= 0 (any unit, the same as the budget) and a relative error e[m][j] >= 0 (0 for the
// dense level). For a speedup target s the caller passes B = T_dense/s - T_fixed.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace zip {

// Per level of one module; all vectors the same length (density may be empty except for
// solve_uniform). density = fraction of the module's structures kept (1 = dense, 0 = removed).
struct ModuleLevels {
  std::vector<double> time, error, density;
};

struct Choice {
  bool feasible = false;
  std::vector<int> level;  // chosen level per module (empty when infeasible)
  double time = 0;         // sum of the chosen levels' measured (unquantised) times
  double cost = 0;         // sum of coef[m] * error[m][level[m]] (coef 1 for solve_uniform)
};

// Time quantisation shared by solve_dp and solve_brute_force: unit = budget/buckets and
// q[m][j] = ceil(t[m][j] / unit), clamped to buckets+1 ("never fits"). Rounding up means any
// choice with sum q <= buckets truly fits (sum t <= sum q*unit <= budget, up to rounding of the
// division); the price is that the DP may miss solutions within ~M units of the budget edge,
// i.e. within M/buckets of B (0.6% for M=60 at 10,000 buckets). budget must be > 0.
std::vector<std::vector<int>> quantise_times(const std::vector<ModuleLevels>& mods, double budget,
                                             int buckets);

// Minimises sum coef[m]*e[m][j_m] subject to sum q[m][j_m] <= buckets. Exact on the quantised
// times: O(M * buckets * levels) time, M*(buckets+1) int16 back-pointers. Ties: lower cost, then
// lower unquantised time, then lower level index (deterministic). budget <= 0, or no choice that
// fits: feasible = false. Throws zip::Error on malformed input (negative/non-finite times,
// errors or coefficients, non-finite budget, mismatched lengths, a module with no level,
// buckets < 1).
Choice solve_dp(const std::vector<ModuleLevels>& mods, const std::vector<double>& coef,
                double budget, int buckets = 10000);

// Reference for tests: enumerates every combination with the same quantised times, constraint
// and tie order as solve_dp. Throws if there are more than 10^7 combinations.
Choice solve_brute_force(const std::vector<ModuleLevels>& mods, const std::vector<double>& coef,
                         double budget, int buckets = 10000);

// The `--method uniform` baseline: one density d shared by every module. Candidate d are the
// union of all level densities, scanned from dense down; for each d every module takes its level
// with the smallest density >= d (ties: the faster level). The first (densest) d whose summed,
// unquantised time fits the budget is returned. Modules whose density grids differ therefore
// keep slightly different fractions; with equal grids they are equal. Infeasible if none fits or
// budget <= 0. Requires density in [0, 1] on every level.
struct UniformChoice : Choice {
  double density = 0;  // the common density d (when feasible)
};
UniformChoice solve_uniform(const std::vector<ModuleLevels>& mods, double budget);

// B = t_dense / speedup - t_fixed (speedup > 0).
double budget_for_speedup(double t_dense, double t_fixed, double speedup);
// Largest predicted speedup: T_dense / (T_fixed + sum_m min_j t[m][j]); +inf if the
// denominator is <= 0.
double max_speedup(const std::vector<ModuleLevels>& mods, double t_dense, double t_fixed);

// SPDY-style search over per-module coefficients c_m (the DP objective is sum c_m*e[m][j]).
// Only the ratios of c matter to the DP, so c is searched in log space: c_m = R^u, u uniform in
// [-1, 1] (log-uniform on [1/R, R], R = coef_range; c = 1 is the centre, up- and down-weighting
// a module are equally likely). SPDY samples c uniformly in [0, 1], which allows unbounded
// ratios; with ~30 real evaluations instead of hundreds a bounded range wastes fewer of them.
// Defaults (R = 2, restart_fraction 0.3) were the best of R in {2, 3, 5} x fraction in
// {0.3, 0.5, 0.7}, and resampling beat small log-space perturbations, on synthetic instances
// (24 modules, hidden loss weights log-uniform in [1/4, 4]): they close about half of the gap
// between DP-only and the true optimum in 30 evaluations.
//   1. evaluation 1: DP with every c = 1 ("DP-only"), reported separately; with a base,
//      evaluation 2 is the DP with c = base;
//   2. random restarts: fresh log-uniform c, DP, evaluate, until restart_fraction of the
//      remaining evaluations are used;
//   3. local search from the best c: resample k coordinates from the same distribution, DP,
//      keep if the loss is strictly lower. k shrinks linearly from
//      max(1, round(mutate_fraction*M)) to 1 over the phase (SPDY also shrinks it).
// Losses are cached by level vector: a c that yields already-evaluated levels costs no
// evaluation; `evaluations` counts distinct level vectors. DP solves are capped at
// 20 * evaluations so small instances with few distinct solutions terminate. A NaN loss is
// treated as +inf. Deterministic for a seed (std::mt19937_64, own int -> double mapping).
// The budget only decides feasibility; if the DP-only solve is infeasible every solve is
// (feasibility does not depend on c): the result is infeasible and `loss` is never called.
struct SpdyOptions {
  int evaluations = 30;           // distinct level vectors passed to `loss` (>= 1)
  double restart_fraction = 0.3;  // share of evaluations 2..N spent on random restarts
  double mutate_fraction = 0.15;  // initial share of coefficients resampled per local step
  double coef_range = 2;          // R > 1: coefficients lie in [1/R, R]
  uint64_t seed = 1;
  int buckets = 10000;
  // Centre of the search (empty = every c_m = 1): when given, evaluation 2 is the DP with c = base,
  // and restarts and mutations draw c_m = base_m · R^u. Calibrated per-module sensitivities go here.
  std::vector<double> base;
  std::function<void(int, int)> progress;  // (evaluations done, evaluations budget)
};
struct SpdyResult {
  Choice best, dp_only;  // best.cost is under `coef`; dp_only.cost under c = 1
  double best_loss = 0, dp_only_loss = 0;
  double base_loss = 0;  // loss of the DP with c = base (= dp_only_loss without a base)
  int evaluations = 0;      // distinct level vectors evaluated (calls to `loss`)
  int solves = 0;           // DP solves, cache hits included
  std::vector<double> coef;  // coefficients that produced `best`
};
SpdyResult spdy_search(const std::vector<ModuleLevels>& mods, double budget,
                       const std::function<double(const std::vector<int>&)>& loss,
                       const SpdyOptions& opt = {});

}  // namespace zip

#include "compress/guarantee.h"

#include <algorithm>
#include <cmath>

#include "base/stats.h"
#include "compress/stitch.h"
#include "compress/timing_spread.h"
#include "engine/error.h"

namespace zip {

double median_scale(const std::vector<double>& scales) { return scales.empty() ? 1.0 : stats_of(scales).median; }

double BudgetAim::budget(double scale) const {
  const double least = t_dense / max_speedup - t_fixed;
  return std::max(least, t_dense / (target * aim * scale) - t_fixed);
}

namespace {

// The round in band closest to the aim, else the one closest to the band.
size_t best_round(const std::vector<double>& ratios, double aim) {
  size_t best = 0;
  for (size_t i = 0; i < ratios.size(); i++) {
    const double r = ratios[i], rb = ratios[best];
    const double d = band_distance(r), d_best = band_distance(rb);
    if (d < d_best || (d == 0 && d_best == 0 && std::abs(r - aim) < std::abs(rb - aim))) best = i;
  }
  return best;
}

}  // namespace

GuaranteeResult meet_target(MemberSearch& search, const Ranking& ranking, const Model& source, const Model& dense,
                            LatencySource& latency,
                            const BudgetAim& aim, double budget, int max_rounds, std::vector<double>& scales,
                            std::vector<double>& run_scales, const std::string& who,
                            const std::function<void(const std::string&)>& log) {
  struct Round {
    Choice choice;
    double ratio;  // measured speedup / target
  };
  GuaranteeResult out;
  std::vector<Round> rounds;
  bool refined = false;
  for (int round = 1;; round++) {
    const Choice& choice = search.choice();
    Model m = stitch_model(source, ranking, choice.level);
    // The dense model is re-measured beside each member (in alternation), so that the speedup is
    // a ratio of two times taken under the same conditions on a shared, noisy machine.
    // A timing the machine made too scattered to judge by is taken again first.
    const PairTiming timing = measure_pair_trusted(latency, dense, m, who, log);
    const double dense_s = timing.dense_s, measured = timing.model_s;
    const double predicted = aim.t_fixed + choice.time;
    const double ratio = dense_s / measured / aim.target;
    const double scale = (aim.t_dense / predicted) / (dense_s / measured);
    rounds.push_back({choice, ratio});
    RoundRecord rec{budget, predicted, measured, dense_s, ratio * aim.target, scale, std::nullopt, timing.spread, timing.reps,
                    timing.timings};
    if (search.strategy() != SearchStrategy::Uniform) rec.search_loss = search.choice_loss();
    out.rounds.push_back(rec);
    run_scales.push_back(scale), scales.push_back(scale);
    if (round >= max_rounds) break;
    if (band_distance(ratio) == 0) {
      if (refined || std::abs(ratio - aim.aim) <= kAimTolerance) break;
      refined = true;
    }
    const double next = aim.budget(median_scale(scales));
    log(fmt::format("{}: measured {:.3f}x ({:.2f} of target{}), correcting the budget by {:.3f}", who, ratio * aim.target,
                    ratio, band_distance(ratio) == 0 ? fmt::format(", in band but far from the aim {:.2f}", aim.aim) : std::string(),
                    next / budget));
    const std::vector<int> previous = choice.level;
    if (!search.again(next, round + 1)) break;
    if (!search.choice().feasible || search.choice().level == previous) break;
    budget = next;
  }
  std::vector<double> ratios;
  for (const Round& r : rounds) ratios.push_back(r.ratio);
  out.best = best_round(ratios, aim.aim);
  out.choice = rounds[out.best].choice;
  out.predicted_s = out.rounds[out.best].predicted_s;
  out.measured_s = out.rounds[out.best].measured_s;
  out.dense_measured_s = out.rounds[out.best].dense_measured_s;
  out.met = !outside_band(rounds[out.best].ratio);
  return out;
}

}  // namespace zip

#include "compress/timing_spread.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace zip {

double quantile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double h = p * double(v.size() - 1);
  const size_t lo = size_t(std::floor(h)), hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (h - double(lo)) * (v[hi] - v[lo]);
}

double relative_iqr(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double med = quantile(v, 0.5);
  return med == 0 ? 0 : (quantile(v, 0.75) - quantile(v, 0.25)) / std::abs(med);
}

PairTiming measure_pair_trusted(LatencySource& latency, const Model& dense, const Model& m, const std::string& who,
                                const std::function<void(const std::string&)>& log) {
  PairTiming best = latency.measure_pair(dense, m);
  int timings = 1;
  while (best.spread > kSpreadLimit && timings <= kMaxRetimes) {
    log(fmt::format("{}: timing spread {:.1f} % (IQR / median of the per-repetition speedups) is above {:.0f} %: timing again",
                    who, best.spread * 100, kSpreadLimit * 100));
    PairTiming t = latency.measure_pair(dense, m);
    timings++;
    if (t.spread < best.spread) best = t;
  }
  best.timings = timings;
  return best;
}

}  // namespace zip

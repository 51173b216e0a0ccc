// How far one re-measurement can be trusted. A paired measurement (compress/latency_source.h)
// yields one speedup ratio per repetition; on a busy machine those ratios scatter, and a median
// over a scattered handful can sit several percent off — as wide as the band itself. The spread
// is the interquartile range of the ratios over their median (robust to the odd preempted unit,
// unlike max − min). A measurement beyond kSpreadLimit is timed again (at most kMaxRetimes more
// times) and the least scattered one kept; the report states each round's spread.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "compress/latency_source.h"

namespace zip {

// IQR / median of 15 ratios at 0.10 puts the median's 95 % interval at about ±5 % (a normal
// scatter: σ ≈ IQR / 1.35, the median's error ≈ 1.25 σ / √n): about the band's half width. Wider
// than that, a verdict in or out of the band is a coin toss.
inline constexpr double kSpreadLimit = 0.10;
inline constexpr int kMaxRetimes = 2;

// The p-quantile of `v` (0 <= p <= 1), linear between order statistics (R's type 7); 0 for none.
double quantile(std::vector<double> v, double p);
// (q75 − q25) / median of `v`; 0 for fewer than two samples or a median of 0.
double relative_iqr(const std::vector<double>& v);

// The pair timed until its spread is within kSpreadLimit or kMaxRetimes more timings are spent;
// the least scattered timing, with `timings` set to how many were taken. Logs each retiming.
PairTiming measure_pair_trusted(LatencySource& latency, const Model& dense, const Model& m, const std::string& who,
                                const std::function<void(const std::string&)>& log);

}  // namespace zip

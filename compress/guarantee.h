// The guarantee: every member is stitched and re-measured end to end; when its measured speedup
// over the target falls outside [kBandLow, kBandHigh] the budget is re-aimed through how far
// reality was from the table and the member is searched again (at most max_rounds rounds). A
// member in band but far from the aim (it can land up to 10 % faster than asked, speed the user
// would rather have as accuracy) gets one such round too. The member is the round in band closest
// to the aim, else the one closest to the band.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "compress/band.h"
#include "compress/latency_source.h"
#include "compress/member.h"
#include "compress/member_search.h"

namespace zip {

// The median of the table scales (predicted / measured speedup); 1 (the table is right) for none.
double median_scale(const std::vector<double>& scales);

// Where a member's budgets aim: the budget at which the table predicts target × aim × scale, so
// that reality (scale times slower) lands on target × aim; never below the smallest model's time.
struct BudgetAim {
  double t_dense = 0, t_fixed = 0, target = 1, aim = 1, max_speedup = 1;
  double budget(double scale) const;
};

struct GuaranteeResult {
  std::vector<RoundRecord> rounds;
  size_t best = 0;  // the member's round
  Choice choice;    // its levels
  double predicted_s = 0, measured_s = 0, dense_measured_s = 0;
  bool met = false;  // the best round is in band
};

// Rounds of stitch → re-measure → correct, starting from the search's first choice at `budget`.
// `scales` holds the prior (when there is one) and receives this member's rounds; `run_scales`
// (every member's rounds of the run) receives them too. `who` starts the log lines. Members are
// stitched from `source` (the dense model, or a gradual step's parent) and timed against `dense`.
GuaranteeResult meet_target(MemberSearch& search, const Ranking& ranking, const Model& source, const Model& dense,
                            LatencySource& latency,
                            const BudgetAim& aim, double budget, int max_rounds, std::vector<double>& scales,
                            std::vector<double>& run_scales, const std::string& who,
                            const std::function<void(const std::string&)>& log);

}  // namespace zip

// Statistics over repeated measurements (timings, throughputs): median, min and max.
// One rule for every caller: the median of an even count is the mean of the middle two, and an
// empty input gives all zeros (a caller that needs another neutral value, such as a scale of 1,
// checks for emptiness itself).
#pragma once
#include <vector>

namespace zip {

struct RepStats {
  double median = 0, min = 0, max = 0;
};

RepStats stats_of(std::vector<double> samples);

}  // namespace zip

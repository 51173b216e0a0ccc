#include "base/stats.h"

#include <algorithm>

namespace zip {

RepStats stats_of(std::vector<double> v) {
  RepStats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  s.min = v.front();
  s.max = v.back();
  return s;
}

}  // namespace zip

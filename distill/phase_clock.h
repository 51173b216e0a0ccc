// Wall time per phase of a training step (teacher forward, student forward, loss, backward,
// optimizer): the loop code calls lap("phase") at each phase boundary, which charges the time
// since the previous lap (or start()) to that phase. zip bench --train reads the totals; a
// null clock costs nothing (callers test the pointer).
#pragma once
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace zip::distill {

class PhaseClock {
 public:
  void start() { last_ = std::chrono::steady_clock::now(); }
  void lap(const char* phase) {
    auto now = std::chrono::steady_clock::now();
    double s = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    for (auto& [name, total] : totals_)
      if (name == phase) {
        total += s;
        return;
      }
    totals_.emplace_back(phase, s);
  }
  // Seconds per phase since clear(), in the order the phases first ran.
  const std::vector<std::pair<std::string, double>>& totals() const { return totals_; }
  void clear() { totals_.clear(); }

 private:
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
  std::vector<std::pair<std::string, double>> totals_;
};

}  // namespace zip::distill

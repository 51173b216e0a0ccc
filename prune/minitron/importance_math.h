// Minitron importance arithmetic (arXiv 2407.14679; docs/METHODS.md §3.1), array in, array out:
// the per-channel score ‖(mean_{t∈window b} |a_{b,t,c}|)_b‖₂ accumulated window by window, its
// aggregation into heads and KV groups, and the cosine behind Block Importance. The collector
// (importance.h) feeds these from forward passes.
#pragma once
#include <cstdint>
#include <vector>

namespace zip::minitron {

// Per channel: the mean over one window's rows of |a|, squared and summed over windows; score()
// is the square root (the L2 norm over windows). Rows of a window may arrive in several calls.
class ChannelScore {
 public:
  void add_rows(const float* x, int rows, int cols);  // rows of the current window
  void end_window();                                  // folds the window's mean |a| into the sum
  std::vector<double> score() const;
  int windows() const { return windows_; }
  int cols() const { return int(sum_sq_.size()); }

 private:
  std::vector<double> sum_sq_, window_abs_;
  int64_t window_rows_ = 0;
  int windows_ = 0;
};

// Groups of `group` consecutive channels (a head's head_dim channels) → the L2 norm of each
// group's channel scores. channels.size() must be a multiple of group.
std::vector<double> group_l2(const std::vector<double>& channels, int group);

// KV group importance: the L2 norm of the scores of the query heads that read each KV head
// (q_per_kv: query heads per KV head, in storage order) — the L2 over all the group's channels.
std::vector<double> kv_group_scores(const std::vector<double>& head_scores, const std::vector<int>& q_per_kv);

// Sums element-wise (embedding channels: the per-norm scores summed over the norms).
void add_to(std::vector<double>& acc, const std::vector<double>& x);

// cos(a, b) in f64; 0 when either vector is zero.
double cosine(const float* a, const float* b, int n);

// The indices of the k largest scores, ascending (ties: the lower index wins).
std::vector<int> top_k(const std::vector<double>& scores, int k);

}  // namespace zip::minitron

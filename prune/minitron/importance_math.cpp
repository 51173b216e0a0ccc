#include "prune/minitron/importance_math.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "engine/error.h"

namespace zip::minitron {

void ChannelScore::add_rows(const float* x, int rows, int cols) {
  if (sum_sq_.empty()) {
    sum_sq_.assign(size_t(cols), 0.0);
    window_abs_.assign(size_t(cols), 0.0);
  }
  ZIP_CHECK(size_t(cols) == sum_sq_.size(), "importance: {} channels where {} were seen", cols, sum_sq_.size());
  for (int r = 0; r < rows; r++) {
    const float* row = x + size_t(r) * size_t(cols);
    for (int c = 0; c < cols; c++) window_abs_[size_t(c)] += std::fabs(double(row[c]));
  }
  window_rows_ += rows;
}

void ChannelScore::end_window() {
  if (window_rows_ == 0) return;  // the activation was not seen in this window
  for (size_t c = 0; c < sum_sq_.size(); c++) {
    double mean = window_abs_[c] / double(window_rows_);
    sum_sq_[c] += mean * mean;
    window_abs_[c] = 0;
  }
  window_rows_ = 0;
  windows_++;
}

std::vector<double> ChannelScore::score() const {
  std::vector<double> out(sum_sq_.size());
  for (size_t c = 0; c < out.size(); c++) out[c] = std::sqrt(sum_sq_[c]);
  return out;
}

std::vector<double> group_l2(const std::vector<double>& channels, int group) {
  ZIP_CHECK(group > 0 && channels.size() % size_t(group) == 0, "importance: {} channels do not split into groups of {}",
            channels.size(), group);
  std::vector<double> out(channels.size() / size_t(group), 0.0);
  for (size_t i = 0; i < channels.size(); i++) out[i / size_t(group)] += channels[i] * channels[i];
  for (double& v : out) v = std::sqrt(v);
  return out;
}

std::vector<double> kv_group_scores(const std::vector<double>& head_scores, const std::vector<int>& q_per_kv) {
  std::vector<double> out;
  size_t h = 0;
  for (int n : q_per_kv) {
    double s = 0;
    for (int i = 0; i < n; i++, h++) s += head_scores.at(h) * head_scores.at(h);
    out.push_back(std::sqrt(s));
  }
  ZIP_CHECK(h == head_scores.size(), "importance: {} head scores for {} query heads", head_scores.size(), h);
  return out;
}

void add_to(std::vector<double>& acc, const std::vector<double>& x) {
  if (acc.empty()) acc.assign(x.size(), 0.0);
  ZIP_CHECK(acc.size() == x.size(), "importance: adding {} channels to {}", x.size(), acc.size());
  for (size_t i = 0; i < x.size(); i++) acc[i] += x[i];
}

double cosine(const float* a, const float* b, int n) {
  double ab = 0, aa = 0, bb = 0;
  for (int i = 0; i < n; i++) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0.0;
}

std::vector<int> top_k(const std::vector<double>& scores, int k) {
  ZIP_CHECK(k >= 0 && size_t(k) <= scores.size(), "importance: keeping {} of {}", k, scores.size());
  std::vector<int> idx(scores.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return scores[size_t(a)] > scores[size_t(b)]; });
  idx.resize(size_t(k));
  std::sort(idx.begin(), idx.end());
  return idx;
}

}  // namespace zip::minitron

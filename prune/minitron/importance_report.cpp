#include "prune/minitron/importance_report.h"

#include <algorithm>
#include <cmath>
#include <fmt/format.h>
#include <numeric>

namespace zip::minitron {

std::vector<double> quantiles(std::vector<double> v, const std::vector<double>& q) {
  std::vector<double> out;
  if (v.empty()) return out;
  std::sort(v.begin(), v.end());
  for (double p : q) {
    double at = p * double(v.size() - 1);
    size_t lo = size_t(std::floor(at)), hi = std::min(lo + 1, v.size() - 1);
    out.push_back(v[lo] + (at - double(lo)) * (v[hi] - v[lo]));
  }
  return out;
}

static const std::vector<double> kQ = {0.0, 0.25, 0.5, 0.75, 1.0};

static std::string quantile_text(const std::vector<double>& v) {
  if (v.empty()) return "-";
  std::vector<double> q = quantiles(v, kQ);
  return fmt::format("{:.4g} / {:.4g} / {:.4g} / {:.4g} / {:.4g}", q[0], q[1], q[2], q[3], q[4]);
}

// "h3 1.23, h0 1.01" — the n highest (or lowest) heads.
static std::string heads_text(const std::vector<double>& s, int n, bool top) {
  if (s.empty()) return "-";
  std::vector<int> idx(s.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(),
                   [&](int a, int b) { return top ? s[size_t(a)] > s[size_t(b)] : s[size_t(a)] < s[size_t(b)]; });
  std::string out;
  for (int i = 0; i < std::min(n, int(s.size())); i++)
    out += fmt::format("{}h{} {:.3g}", i ? ", " : "", idx[size_t(i)], s[size_t(idx[size_t(i)])]);
  return out;
}

std::string importance_summary(const Importance& imp) {
  std::string out = fmt::format("importance from {} windows ({} tokens)\n", imp.windows, imp.tokens);
  if (!imp.drop_loss.empty()) out += fmt::format("dense held-out loss {:.4f}\n", imp.dense_loss);
  out += fmt::format("{:>5} {:>8} {:>10}  {:<32} {:<32} {}\n", "layer", "BI", "drop Δloss", "top heads", "bottom heads",
                     "FFN neurons min / q1 / median / q3 / max");
  for (size_t l = 0; l < imp.block_importance.size(); l++) {
    std::string drop = imp.drop_loss.empty() ? "-" : fmt::format("{:+.4f}", imp.drop_loss[l]);
    out += fmt::format("{:>5} {:>8.4f} {:>10}  {:<32} {:<32} {}\n", l, imp.block_importance[l], drop,
                       heads_text(imp.heads[l], 3, true), heads_text(imp.heads[l], 3, false),
                       quantile_text(imp.neurons[l]));
  }
  if (imp.block > 1) {
    out += fmt::format("dropping {} consecutive layers (first layer: Δloss):", imp.block);
    for (size_t f = 0; f < imp.block_drop_loss.size(); f++) out += fmt::format(" {}:{:+.4f}", f, imp.block_drop_loss[f]);
    out += "\n";
  }
  out += fmt::format("embedding channels ({}): min / q1 / median / q3 / max {}\n", imp.channels.size(),
                     quantile_text(imp.channels));
  return out;
}

}  // namespace zip::minitron

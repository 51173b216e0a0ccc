#include "prune/heldout_loss.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/eval/log_softmax.h"
#include "engine/forward.h"

namespace zip {

HeldoutLoss::HeldoutLoss(const Model& dense, std::vector<std::vector<int>> windows, int threads)
    : windows_(std::move(windows)), backend_(make_cpu_backend(threads)), encoder_(!dense.config.info().causal) {
  ZIP_CHECK(!windows_.empty(), "no held-out windows for the search loss");
  for (const auto& w : windows_) len_ = std::max(len_, int(w.size()));
  InferenceContext ctx(dense, *backend_, len_, len_);
  const int V = dense.config.vocab_size, D = dense.config.dim;
  for (const auto& w : windows_) {
    const int n = int(w.size());
    if (encoder_) {
      const float* h = ctx.encode(w.data(), nullptr, n);
      dense_out_.emplace_back(h, h + size_t(n) * size_t(D));
    } else {
      ctx.reset();
      const float* logits = ctx.eval(w, true);
      std::vector<float> lp(size_t(n) * size_t(V));
      std::vector<double> row;
      for (int i = 0; i < n; i++) {
        log_softmax(logits + size_t(i) * size_t(V), V, &row);
        std::copy(row.begin(), row.end(), lp.begin() + ptrdiff_t(i) * V);
      }
      dense_out_.push_back(std::move(lp));
    }
  }
  dense_loss_ = loss(dense);
}

double HeldoutLoss::loss(const Model& m) {
  InferenceContext ctx(m, *backend_, len_, len_);
  const int V = m.config.vocab_size, D = m.config.dim;
  double sum = 0;
  int64_t count = 0;
  for (size_t k = 0; k < windows_.size(); k++) {
    const auto& w = windows_[k];
    const int n = int(w.size());
    if (encoder_) {
      const float* h = ctx.encode(w.data(), nullptr, n);
      const float* r = dense_out_[k].data();
      for (int i = 0; i < n; i++) {
        double dot = 0, a = 0, b = 0;
        for (int j = 0; j < D; j++) {
          double x = h[size_t(i) * size_t(D) + size_t(j)], y = r[size_t(i) * size_t(D) + size_t(j)];
          dot += x * y, a += x * x, b += y * y;
        }
        sum += 1.0 - dot / std::max(std::sqrt(a * b), 1e-30);
        count++;
      }
    } else {
      ctx.reset();
      const float* logits = ctx.eval(w, true);
      for (int i = 0; i + 1 < n; i++) {
        const float* row = logits + size_t(i) * size_t(V);
        sum += log_softmax(row, V, nullptr) - double(row[w[size_t(i) + 1]]);
        count++;
      }
    }
  }
  return sum / double(std::max<int64_t>(count, 1));
}

double HeldoutLoss::kl(const Model& m) {
  if (encoder_) return 0;
  InferenceContext ctx(m, *backend_, len_, len_);
  const int V = m.config.vocab_size;
  double sum = 0;
  int64_t count = 0;
  std::vector<double> row;
  for (size_t k = 0; k < windows_.size(); k++) {
    const auto& w = windows_[k];
    ctx.reset();
    const float* logits = ctx.eval(w, true);
    for (int i = 0; i < int(w.size()); i++) {
      log_softmax(logits + size_t(i) * size_t(V), V, &row);
      const float* p = dense_out_[k].data() + size_t(i) * size_t(V);
      double kl = 0;
      for (int v = 0; v < V; v++) kl += std::exp(double(p[v])) * (double(p[v]) - double(row[size_t(v)]));
      sum += kl;
      count++;
    }
  }
  return sum / double(std::max<int64_t>(count, 1));
}

}  // namespace zip

#include "prune/minitron/drop_loss.h"

#include <algorithm>
#include <cmath>

#include "compress/host_backend.h"
#include "compress/slice_axes.h"
#include "engine/error.h"
#include "engine/eval/log_softmax.h"
#include "engine/forward.h"

namespace zip::minitron {

namespace {

// Keeps the residual stream entering every layer (and after the last) of one window.
struct StreamRecorder : ForwardObserver {
  std::vector<std::vector<float>> stream;
  void on_residual(int layer, const float* x, int rows, int dim) override {
    if (size_t(layer) >= stream.size()) stream.resize(size_t(layer) + 1);
    stream[size_t(layer)].assign(x, x + size_t(rows) * size_t(dim));
  }
};

}  // namespace

DropLoss::DropLoss(const Model& dense, std::vector<std::vector<int>> windows, int threads)
    : dense_(dense), windows_(std::move(windows)), backend_(make_host_backend(threads)) {
  ZIP_CHECK(!windows_.empty(), "importance: no windows for the layer-drop losses");
  for (const auto& w : windows_) len_ = std::max(len_, int(w.size()));
  InferenceContext ctx(dense_, *backend_, len_, len_);
  StreamRecorder rec;
  ctx.set_observer(&rec);
  double sum = 0;
  int64_t units = 0;
  for (size_t k = 0; k < windows_.size(); k++) {
    const auto& w = windows_[k];
    ctx.reset();
    const float* out = dense_.config.info().causal ? ctx.eval(w, true) : ctx.encode(w.data(), nullptr, int(w.size()));
    stream_.push_back(std::move(rec.stream));
    rec.stream.clear();
    sum += window_sum(out, k, &units);
  }
  dense_loss_ = sum / double(std::max<int64_t>(units, 1));
}

double DropLoss::window_sum(const float* out, size_t k, int64_t* units) const {
  const auto& w = windows_[k];
  double sum = 0;
  if (dense_.config.info().causal) {
    const int V = dense_.config.vocab_size;
    for (size_t i = 0; i + 1 < w.size(); i++) {
      const float* row = out + i * size_t(V);
      sum += log_sum_exp(row, V) - double(row[w[i + 1]]);
      (*units)++;
    }
    return sum;
  }
  const int D = dense_.config.dim, L = dense_.config.n_layers();
  const std::vector<float>& ref = stream_.at(k).at(size_t(L));  // the dense final hidden states
  for (size_t i = 0; i < w.size(); i++) {
    double dot = 0, a = 0, b = 0;
    for (int j = 0; j < D; j++) {
      double x = out[i * size_t(D) + size_t(j)], y = ref[i * size_t(D) + size_t(j)];
      dot += x * y, a += x * x, b += y * y;
    }
    sum += 1.0 - dot / std::max(std::sqrt(a * b), 1e-30);
    (*units)++;
  }
  return sum;
}

double DropLoss::loss_without(int first, int count) {
  const int L = dense_.config.n_layers();
  ZIP_CHECK(count >= 1 && first >= 0 && first + count <= L && count < L, "importance: cannot drop layers {}..{} of {}",
            first, first + count - 1, L);
  std::vector<int> drop;
  for (int l = first; l < first + count; l++) drop.push_back(l);
  Model shallow = keep_layers(dense_, layers_except(L, drop));
  InferenceContext ctx(shallow, *backend_, len_, len_);
  double sum = 0;
  int64_t units = 0;
  for (size_t k = 0; k < windows_.size(); k++) {
    ctx.reset();
    // Layer `first` of the shallow model is dense layer first+count; below it both are the same.
    const float* out = ctx.eval_from_layer(first, stream_[k][size_t(first)].data(), int(windows_[k].size()), true);
    sum += window_sum(out, k, &units);
  }
  return sum / double(std::max<int64_t>(units, 1));
}

}  // namespace zip::minitron

#include "prune/minitron/importance.h"

#include <algorithm>

#include "compress/host_backend.h"
#include "engine/error.h"
#include "prune/minitron/drop_loss.h"

namespace zip::minitron {

// Norm outputs, by (layer, which): pre-norm blocks 0 = attn_norm (the input of Q), 1 = ffn_norm
// (the input of gate/up), (n_layers, 0) = output_norm (the input of the LM head); post-norm
// blocks 1 = attn_out_norm (the input of up), 2 = the stream entering the layer (embd_norm for
// layer 0, the previous layer's ffn_out_norm after it; n_layers: the last one).
enum NormSlot { kPreAttn = 0, kFfnIn = 1, kStream = 2 };

ImportanceCollector::ImportanceCollector(const ModelConfig& c)
    : c_(c), attn_(size_t(c.n_layers())), ffn_(size_t(c.n_layers())), cos_sum_(size_t(c.n_layers()), 0.0) {}

void ImportanceCollector::add_norm_output(int layer, int which, const float* x, int rows, int dim) {
  norms_[{layer, which}].add_rows(x, rows, dim);
}

void ImportanceCollector::on_linear_input(int layer, LinearKind kind, const float* x, int rows, int cols) {
  if (layer < 0) {  // the LM head reads output_norm
    if (kind == LinearKind::Output && c_.info().final_norm) add_norm_output(c_.n_layers(), kPreAttn, x, rows, cols);
    return;
  }
  switch (kind) {
    case LinearKind::O: attn_[size_t(layer)].add_rows(x, rows, cols); break;
    case LinearKind::Down: ffn_[size_t(layer)].add_rows(x, rows, cols); break;
    case LinearKind::Q:
      if (!c_.info().post_norm) add_norm_output(layer, kPreAttn, x, rows, cols);
      break;
    case LinearKind::Gate:
    case LinearKind::Up: add_norm_output(layer, kFfnIn, x, rows, cols); break;
    default: break;
  }
}

void ImportanceCollector::on_residual(int layer, const float* x, int rows, int dim) {
  if (c_.info().post_norm && (layer > 0 || c_.info().embd_norm)) add_norm_output(layer, kStream, x, rows, dim);
  if (layer > 0 && prev_layer_ == layer - 1)
    for (int r = 0; r < rows; r++)
      cos_sum_[size_t(layer - 1)] += cosine(prev_.data() + size_t(r) * dim, x + size_t(r) * dim, dim);
  if (layer == 0) window_tokens_ += rows;
  if (layer < c_.n_layers()) {
    prev_.assign(x, x + size_t(rows) * dim);
    prev_layer_ = layer;
  } else {
    prev_layer_ = -1;
  }
}

void ImportanceCollector::end_window() {
  for (auto& s : attn_) s.end_window();
  for (auto& s : ffn_) s.end_window();
  for (auto& [key, s] : norms_) s.end_window();
  tokens_ += window_tokens_;
  window_tokens_ = 0;
  prev_layer_ = -1;
  windows_++;
}

Importance ImportanceCollector::result() const {
  Importance imp;
  const int L = c_.n_layers();
  imp.heads.resize(size_t(L));
  imp.kv_groups.resize(size_t(L));
  imp.neurons.resize(size_t(L));
  for (int l = 0; l < L; l++) {
    const LayerShape& s = c_.layers[size_t(l)];
    if (s.has_attention() && attn_[size_t(l)].cols() > 0) {
      imp.heads[size_t(l)] = group_l2(attn_[size_t(l)].score(), c_.head_dim);
      imp.kv_groups[size_t(l)] = kv_group_scores(imp.heads[size_t(l)], s.q_per_kv);
    }
    if (s.has_ffn() && ffn_[size_t(l)].cols() > 0) imp.neurons[size_t(l)] = ffn_[size_t(l)].score();
  }
  for (auto& [key, s] : norms_) add_to(imp.channels, s.score());
  for (int l = 0; l < L; l++)
    imp.block_importance.push_back(tokens_ > 0 ? 1.0 - cos_sum_[size_t(l)] / double(tokens_) : 0.0);
  imp.windows = windows_;
  imp.tokens = tokens_;
  return imp;
}

// The held-out loss increase with each run of `k` consecutive layers removed, by first layer.
static std::vector<double> drop_losses(const Model& m, DropLoss& loss, int k, const ImportanceOptions& opt) {
  const int L = m.config.n_layers();
  std::vector<double> out;
  for (int first = 0; first + k <= L; first++) {
    out.push_back(loss.loss_without(first, k) - loss.dense_loss());
    if (opt.progress) opt.progress("drop", first + 1, L - k + 1);
  }
  return out;
}

Importance compute_importance(const Model& m, const std::vector<std::vector<int>>& windows,
                              const std::vector<std::vector<int>>& loss_windows, const ImportanceOptions& opt) {
  ZIP_CHECK(!windows.empty(), "importance: no calibration windows");
  int len = 0;
  for (auto& w : windows) len = std::max(len, int(w.size()));
  std::unique_ptr<Backend> backend = make_host_backend(opt.threads);
  InferenceContext ctx(m, *backend, len, len);
  ImportanceCollector collector(m.config);
  ctx.set_observer(&collector);
  const bool causal = m.config.info().causal;
  for (size_t i = 0; i < windows.size(); i++) {
    ctx.reset();
    if (causal)
      ctx.eval(windows[i], true);  // all rows through the LM head: output_norm is seen for every token
    else
      ctx.encode(windows[i].data(), nullptr, int(windows[i].size()));
    collector.end_window();
    if (opt.progress) opt.progress("scores", int(i + 1), int(windows.size()));
  }
  Importance imp = collector.result();
  if (!loss_windows.empty() && m.config.n_layers() > 1) {
    DropLoss loss(m, loss_windows, opt.threads);
    imp.dense_loss = loss.dense_loss();
    imp.drop_loss = drop_losses(m, loss, 1, opt);
    if (opt.block > 1 && opt.block < m.config.n_layers()) {
      imp.block = opt.block;
      imp.block_drop_loss = drop_losses(m, loss, opt.block, opt);
    }
  }
  return imp;
}

nlohmann::json importance_to_json(const Importance& imp) {
  return {{"windows", imp.windows},
          {"tokens", imp.tokens},
          {"heads", imp.heads},
          {"kv_groups", imp.kv_groups},
          {"neurons", imp.neurons},
          {"channels", imp.channels},
          {"block_importance", imp.block_importance},
          {"dense_loss", imp.dense_loss},
          {"drop_loss", imp.drop_loss},
          {"block", imp.block},
          {"block_drop_loss", imp.block_drop_loss}};
}

}  // namespace zip::minitron

// Minitron importance from forward passes only (docs/METHODS.md §3.1): the collector observes
// the inference path (engine/forward.h ForwardObserver) over calibration windows and scores
// attention heads (input of W_O), FFN neurons (input of W_2, post-activation), embedding
// channels (every norm's output, summed over the norms) and layers (Block Importance, and the
// held-out loss increase when a layer, or a block of consecutive layers, is removed).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "engine/forward.h"
#include "engine/model.h"
#include "prune/minitron/importance_math.h"

namespace zip::minitron {

struct Importance {
  std::vector<std::vector<double>> heads;      // [layer][query head]; empty where attention is absent
  std::vector<std::vector<double>> kv_groups;  // [layer][KV head]: L2 over its query heads
  std::vector<std::vector<double>> neurons;    // [layer][FFN neuron]; empty where the FFN is absent
  std::vector<double> channels;                // [hidden channel]
  std::vector<double> block_importance;        // [layer]: 1 − mean over tokens of cos(x_in, x_out)
  std::vector<double> drop_loss;               // [layer]: held-out loss without it − dense (empty: not run)
  int block = 0;                               // k of the contiguous-block variant (0: not run)
  std::vector<double> block_drop_loss;         // [first layer]: without layers first..first+k−1
  double dense_loss = 0;                       // held-out loss of the dense model (when drop losses run)
  int windows = 0;                             // calibration windows scored
  int64_t tokens = 0;
};

// Observes one model's forward passes; call end_window() after each calibration window.
class ImportanceCollector : public ForwardObserver {
 public:
  explicit ImportanceCollector(const ModelConfig& c);
  void on_linear_input(int layer, LinearKind kind, const float* x, int rows, int cols) override;
  void on_residual(int layer, const float* x, int rows, int dim) override;
  void end_window();
  // Heads, KV groups, neurons, channels and Block Importance of the windows seen so far.
  Importance result() const;

 private:
  void add_norm_output(int layer, int which, const float* x, int rows, int dim);
  const ModelConfig& c_;
  std::vector<ChannelScore> attn_, ffn_;             // inputs of W_O and W_2, per layer
  std::map<std::pair<int, int>, ChannelScore> norms_;  // (layer, which norm) → its output
  std::vector<double> cos_sum_;                      // per layer: Σ over tokens of cos(x_in, x_out)
  std::vector<float> prev_;                          // the residual stream entering the last layer seen
  int prev_layer_ = -1;
  int64_t tokens_ = 0, window_tokens_ = 0;
  int windows_ = 0;
};

struct ImportanceOptions {
  int threads = 1;
  int block = 0;  // contiguous-block variant: k consecutive layers (0 or 1: not run)
  // Progress: stage ("scores", "drop"), done, total.
  std::function<void(const char*, int, int)> progress;
};

// Scores `windows` through the model; with loss_windows non-empty, also the held-out loss
// (drop_loss.h: next-token NLL, encoders 1 − cos to the dense output; the loss of
// compress/heldout_loss.h) with each layer, and each block of opt.block layers, removed.
Importance compute_importance(const Model& m, const std::vector<std::vector<int>>& windows,
                              const std::vector<std::vector<int>>& loss_windows, const ImportanceOptions& opt);

nlohmann::json importance_to_json(const Importance& imp);

}  // namespace zip::minitron

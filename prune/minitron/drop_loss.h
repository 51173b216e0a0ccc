// The held-out loss of a model with a run of consecutive layers removed, for depth importance.
// The same loss as compress/heldout_loss.h (decoders: mean next-token NLL; encoders: mean over
// tokens of 1 − cos to the dense final hidden states), but each probe resumes from the dense
// model's stream entering the first removed layer (kept from one dense pass) instead of running
// the layers it shares with the dense model again: dropping layer l costs L − l layers, not L − 1.
// Memory: (n_layers + 1) · tokens · dim floats over all the windows.
#pragma once
#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/model.h"

namespace zip::minitron {

class DropLoss {
 public:
  DropLoss(const Model& dense, std::vector<std::vector<int>> windows, int threads);
  double dense_loss() const { return dense_loss_; }
  // The loss without layers first..first+count−1 (count ≥ 1, leaving at least one layer).
  double loss_without(int first, int count);

 private:
  // The loss of one window's outputs (decoder logits or encoder hidden states) of a model of width D.
  double window_sum(const float* out, size_t k, int64_t* units) const;

  const Model& dense_;
  std::vector<std::vector<int>> windows_;
  std::unique_ptr<Backend> backend_;
  int len_ = 0;
  std::vector<std::vector<std::vector<float>>> stream_;  // [window][layer 0..L]: stream entering it
  double dense_loss_ = 0;
};

}  // namespace zip::minitron

// The loss the search judges a stitched model by, on held-out calibration windows: the mean
// next-token negative log-likelihood for decoders; for encoders (no LM head), the mean
// 1 − cos(h, h_dense) of the final hidden states against the dense model's. Also the mean
// KL(dense ‖ model) of the next-token distributions, for the report.
#pragma once
#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/model.h"

namespace zip {

class HeldoutLoss {
 public:
  HeldoutLoss(const Model& dense, std::vector<std::vector<int>> windows, int threads);
  double loss(const Model& m);
  double kl(const Model& m);  // decoders; 0 for encoders
  double dense_loss() { return dense_loss_; }

 private:
  std::vector<std::vector<int>> windows_;
  std::unique_ptr<Backend> backend_;
  bool encoder_;
  int len_ = 0;
  std::vector<std::vector<float>> dense_out_;  // per window: encoder hidden states or decoder log-probs
  double dense_loss_ = 0;
};

}  // namespace zip

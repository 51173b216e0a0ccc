// Distilling a Minitron candidate or member from the dense model (docs/METHODS.md §3.4): forward
// KL on logits at τ = 1, no CE; when the depth is cut by more than a quarter, the hidden-state
// cosine loss through the Distiller's shared learnable map with α = L_logits / L_hidden each
// step; AdamW, cosine decay to lr/10, a short warm-up. One call per KD run: the architecture
// search's short runs and the member's full one (checkpointed so `--resume` continues it).
// Encoders (no logits; the hidden size is kept, so no map): the Distiller's encoder form, as
// ZipLM's members are distilled (compress/distill_member.h): 1 − cos of the last layers' token
// outputs + α · mean over the layer pairs of 1 − cos, student layer i paired with the dense
// layer it was kept from (encoder_layer_map), α = L_out / L_hidden each step.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "compress/calibration.h"
#include "compress/options.h"
#include "distill/token_data.h"
#include "engine/model.h"

namespace zip {

// What the student learns from: --distill-data (a tokens.bin of the dense model's vocabulary),
// else the calibration's training windows joined (the held-out and search windows never enter).
distill::TokenData minitron_kd_corpus(const Model& dense, const CalibSet& calib, const CompressOptions& o);

struct KdRun {
  std::string label;   // progress label
  int steps = 0;
  int batch = 8, seq = 256;
  double lr = 0;       // peak; 0: distill/distill_defaults.h for the student's hidden size
  uint64_t seed = 1;
  int threads = 1;
  train::Precision precision = train::Precision::f32;
  std::string ckpt_dir;  // "": no checkpoints
  bool resume = false;   // continue ckpt_dir's checkpoint when it has one
  // Encoders: the (student, dense) residual pairs of the hidden loss (encoder_layer_map).
  std::vector<std::pair<int, int>> layer_map;
};

// Encoders: the residual pairs (student, dense) for a student made of the dense layers `kept`
// (ascending): the output of student layer i (residual i + 1) with that of dense layer kept[i];
// the student's last layer with the dense model's last (its output is what the model is read
// at, whichever layer it came from), so that it never pulls against the output term.
std::vector<std::pair<int, int>> encoder_layer_map(int dense_layers, const std::vector<int>& kept);

// The peak learning rate a run uses (k.lr, or the default for the student's hidden size).
double kd_peak_lr(const KdRun& k, const Model& student);
// Whether the hidden-state cosine loss is added: depth cut by more than a quarter.
bool kd_uses_hidden_loss(const ModelConfig& dense, const ModelConfig& student);

// `student` distilled from `dense` for k.steps steps of k.batch × k.seq tokens of `data`.
Model distill_candidate(const Model& dense, const Model& student, const distill::TokenData& data, const KdRun& k);

}  // namespace zip

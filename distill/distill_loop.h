// Knowledge distillation of a teacher into a student (Minitron-style, docs/METHODS.md §4): per micro-batch
//   loss = τ²·KL(softmax(teacher/τ) ‖ softmax(student/τ))            (mean over tokens)
//        + w_ce · CE(student, data)                                   (optional)
//        + α · L_hidden(map(student states), teacher states)          (optional, cos or mse)
// Hidden states are the post-final-norm states (or residual streams of --layer-map pairs),
// compared through one shared learnable linear map when the widths differ. α = L_logits /
// L_hidden recomputed every step as a constant (no gradient through it) unless fixed.
// Encoders (teacher and student both; no logits): the output term L_out, the hidden loss (cos or
// mse; cos when `hidden` is None) between the last layers' token outputs, takes the logit term's
// place:  loss = L_out + α · L_hidden(layer-map pairs),  α = L_out / L_hidden unless fixed.
// Fixed-length rows, no padding: every token counts.
#pragma once
#include <memory>
#include <utility>
#include <vector>

#include "distill/phase_clock.h"
#include "distill/train_loop.h"
#include "engine/model.h"
#include "engine/train/adamw.h"
#include "engine/train/train_model.h"

namespace zip::distill {

enum class HiddenLoss { None, Cosine, Mse };

struct DistillOptions {
  float temperature = 1.0f;
  double ce_weight = 0;
  HiddenLoss hidden = HiddenLoss::None;
  double hidden_weight = -1;                // < 0: α = L_logits / L_hidden each step
  std::vector<std::pair<int, int>> layer_map;  // student residual l -> teacher residual l; empty: final states
  int max_B = 1, max_T = 1;
  // Recompute each student block in the backward instead of keeping its activations (one
  // block's worth of memory instead of n_layers'; one more student forward per step).
  bool recompute = false;
  train::AdamWConfig adam;
};

class Distiller {
 public:
  Distiller(const Model& teacher, const Model& student, train::TrainOps& ops, const DistillOptions& o);
  ~Distiller();
  // Hooks for run_loop: micro / update / eval / checkpoint state.
  LoopHooks hooks();
  Model student_model() const { return student_.to_model(); }
  // The student being trained (tests read its gradients after a micro-batch).
  train::TrainModel& student() { return student_; }
  // Phase timing of each step (zip bench --train); null: none.
  void set_clock(PhaseClock* clock) { clock_ = clock; }
  // The student as a Model after freeing the teacher and the optimizer state first (the end of a
  // run: the copy then does not add to the peak memory). The Distiller is unusable afterwards.
  Model finish();

 private:
  // Encoders: L_out between the last layers' outputs (through the map); with `train` adds
  // dscale·d(L_out) into the student's seed.
  double output_loss(int M, bool train, double dscale);
  // Decoders: τ²·KL (returned) and CE (into ce_loss) through both LM heads; with `train` adds
  // scale·d(KL + w_ce·CE) into the student's final states and head.
  double logit_loss(int M, bool train, double scale, bool ce, double& ce_loss);
  // Teacher forward, then the student's losses; adds scale·d(loss) when `train`.
  std::map<std::string, double> step(const int* tokens, const int* targets, int B, int T, double scale, bool train);
  // (student state, its gradient seed, teacher state) of each hidden-loss pair.
  struct Pair {
    int s, t;  // residual indices; -1: final hidden states
  };

  train::TrainOps& ops_;
  DistillOptions o_;
  std::unique_ptr<train::TrainModel> teacher_;
  train::TrainModel student_;
  std::unique_ptr<train::AdamW> adam_, map_adam_;
  std::vector<Pair> pairs_;
  int Ds_ = 0, Dt_ = 0;
  bool has_map_ = false;
  std::vector<train::ParamInfo> map_layout_;
  float *map_p_ = nullptr, *map_g_ = nullptr;  // W [Dt, Ds] then bias [Dt]
  bool encoder_ = false;  // no logits: the output term is a hidden loss on the last layer's outputs
  float *ce_row_ = nullptr, *row_ = nullptr, *mapped_ = nullptr, *dmapped_ = nullptr;
  std::vector<float*> t_states_;
  PhaseClock* clock_ = nullptr;
};

// `n` tokens sampled from the model at temperature 1 (seeded): documents start with BOS and end
// at EOS or after max_seq_len tokens.
TokenData synthetic_tokens(const Model& teacher, size_t n, uint64_t seed, int threads);

}  // namespace zip::distill

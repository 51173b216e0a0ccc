// AdamW (Loshchilov & Hutter): Adam with bias correction and decoupled weight decay, plus
// global-norm gradient clipping. Weight decay applies to 2-D weights only: never to norms and
// biases (1-D), and to the embedding tables (tok/pos/type, hence also a tied LM head) only when
// asked. The update itself is a TrainOps op, so it runs where the parameters live.
#pragma once
#include <vector>

#include "engine/train/train_model.h"

namespace zip::train {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.0;      // decoupled: p -= lr·wd·p
  bool decay_embeddings = false;
  double grad_clip = 1.0;         // max global gradient norm; 0 = no clipping
};

template <typename T>
class AdamWT {
 public:
  // Updates a model's parameters.
  AdamWT(TrainModelT<T>& model, const AdamWConfig& cfg)
      : AdamWT(model.ops(), model.param_data(), model.grad_data(), model.params(), cfg) {}
  // Updates any flat parameter buffer laid out by `params` (e.g. a distillation loss's own
  // learnable map), with its gradient buffer; device memory of `ops`.
  AdamWT(TrainOpsT<T>& ops, T* params, T* grads, const std::vector<ParamInfo>& layout, const AdamWConfig& cfg);
  ~AdamWT();
  AdamWT(const AdamWT&) = delete;
  AdamWT& operator=(const AdamWT&) = delete;

  // One update of every parameter from the accumulated gradients, at learning rate lr. Returns
  // the global gradient norm before clipping; if it is not finite, nothing is updated (the step
  // counter does not advance) and the caller decides what to do.
  double step(double lr);

  int steps() const { return t_; }  // updates done
  bool decays(const ParamInfo& p) const;
  // Moment buffers (device memory, parameter layout) and the step count, for checkpoints.
  T* m() { return m_; }
  T* v() { return v_; }
  void set_steps(int t) { t_ = t; }

 private:
  TrainOpsT<T>& ops_;
  T *p_, *g_;
  size_t n_ = 0;
  AdamWConfig cfg_;
  T *m_ = nullptr, *v_ = nullptr;
  int t_ = 0;
  // Contiguous runs of parameters with the same decay setting: [begin, end), decay.
  struct Run {
    size_t begin, end;
    bool decay;
  };
  std::vector<Run> runs_;
};

using AdamW = AdamWT<float>;

}  // namespace zip::train

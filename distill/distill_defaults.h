// zip distill's learning-rate and warm-up defaults, for retraining a pruned *pretrained* model
// (docs/TRAINING.md, "Distillation defaults"). A pretrained weight has a scale of ~1/sqrt(dim);
// AdamW moves every weight by about lr per step, so a fixed lr of 1e-3 (zip train's default, for
// random init) is a large relative change for a wide model: the loss of a pruned SmolLM2-135M
// (dim 576) rose over the first steps. Scaling lr with 1/dim keeps the first updates small
// relative to the weights; a short linear warm-up lets AdamW's second-moment estimate settle.
#pragma once
#include <algorithm>

namespace zip::distill {

// Peak learning rate for a student of hidden size `dim`: 0.1 / dim, at most 1e-3
// (SmolLM2-135M, dim 576: 1.7e-4; stories260K, dim 64: 1e-3).
inline double default_distill_lr(int dim) { return std::min(1e-3, 0.1 / std::max(1, dim)); }

// Warm-up steps: 5 % of the run, at least 1 when the run has 10 steps or more.
inline int default_distill_warmup(int steps) { return steps >= 10 ? std::max(1, (steps + 10) / 20) : 0; }

}  // namespace zip::distill

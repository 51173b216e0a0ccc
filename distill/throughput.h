// Training / distillation throughput (zip bench --train): warm-up steps, then timed steps of the
// loop's hooks, with the time split per phase, and the model FLOPs a token costs, from which
// the tool derives achieved FLOP/s and MFU against the measured peak (kernels/cpu/peak_flops.h).
//
// Model FLOPs per trained token (the standard MFU count: the model's arithmetic, not the
// implementation's — recomputation, packing and softmax/norm work are not counted):
//   N       weights in matrix products: every 2-D block weight plus the LM head (the tied
//           embedding counts once, as the head); the embedding lookup is not a product
//   A(T)    attention scores and mixing per token, forward: 4 · n_heads · head_dim · ctx per
//           layer, ctx = (T+1)/2 for a causal model (the mean number of visible keys), T otherwise
//   forward = 2·N + A(T); training = 3·forward (backward = 2 × forward);
//   distillation = 3·(2·N_s + A_s(T)) + (2·N_t + A_t(T))   (the teacher runs forward only)
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "base/stats.h"
#include "distill/phase_clock.h"
#include "distill/token_data.h"
#include "distill/train_loop.h"
#include "engine/config.h"

namespace zip::distill {

struct ModelFlops {
  double matmul_params = 0;  // N
  double attention = 0;      // A(T), forward FLOPs per token
  double forward() const { return 2 * matmul_params + attention; }
};
ModelFlops model_flops(const ModelConfig& c, int T);
// Per trained token: 3·forward of the student, plus the teacher's forward when there is one.
double train_flops_per_token(const ModelConfig& student, const ModelConfig* teacher, int T);

struct ThroughputOptions {
  int batch = 8, seq = 128;
  int warmup = 1, steps = 3;  // untimed, then timed updates
  double lr = 1e-5;
  uint64_t seed = 1;
};

struct ThroughputResult {
  RepStats tokens_per_s, step_s;  // over the timed steps
  // Median seconds per step of each phase the clock saw, then "other" (the rest of the step:
  // zero_grad, batch sampling and upload).
  std::vector<std::pair<std::string, double>> phase_s;
  double first_loss = 0, last_loss = 0;
};

// Runs the steps on windows of `data` (drawn as run_loop draws them). The hooks charge their
// phases to `clock`.
ThroughputResult run_throughput(LoopHooks& h, PhaseClock& clock, const TokenData& data, const ThroughputOptions& o);

// n uniformly random token ids below vocab (seeded): a corpus for timing only.
TokenData random_tokens(int vocab, size_t n, uint64_t seed);

}  // namespace zip::distill

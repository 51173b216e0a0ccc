#include "engine/train/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace zip::train {

LrDecay parse_lr_decay(const std::string& name) {
  if (name == "cosine") return LrDecay::Cosine;
  if (name == "linear") return LrDecay::Linear;
  if (name == "constant") return LrDecay::Constant;
  fail("unknown learning-rate schedule '{}' (cosine, linear, constant)", name);
}

const char* lr_decay_name(LrDecay d) {
  switch (d) {
    case LrDecay::Cosine: return "cosine";
    case LrDecay::Linear: return "linear";
    default: return "constant";
  }
}

double LrSchedule::at(int step) const {
  step = std::max(step, 0);
  // Warm-up starts above 0 (step 0 gets peak/warmup): a zero first step would waste a batch.
  if (step < warmup_steps) return peak_lr * double(step + 1) / double(warmup_steps);
  if (decay == LrDecay::Constant) return peak_lr;
  int span = total_steps - warmup_steps;
  double p = span > 0 ? std::clamp(double(step - warmup_steps) / double(span), 0.0, 1.0) : 1.0;
  if (decay == LrDecay::Linear) return peak_lr - (peak_lr - min_lr) * p;
  return min_lr + 0.5 * (peak_lr - min_lr) * (1.0 + std::cos(M_PI * p));
}

}  // namespace zip::train

// Learning-rate schedules: linear warm-up to a peak, then cosine or linear decay to a floor (or
// constant). Pure functions of the step, so a resumed run continues on the same curve.
#pragma once
#include <string>

namespace zip::train {

enum class LrDecay { Cosine, Linear, Constant };
LrDecay parse_lr_decay(const std::string& name);  // "cosine", "linear", "constant"; throws otherwise
const char* lr_decay_name(LrDecay d);

struct LrSchedule {
  double peak_lr = 3e-4;
  double min_lr = 0;      // reached at total_steps
  int warmup_steps = 0;   // lr rises linearly to peak over these steps
  int total_steps = 0;    // warm-up included
  LrDecay decay = LrDecay::Cosine;

  // The learning rate of update `step` (0-based). Steps past total_steps stay at min_lr.
  double at(int step) const;
};

}  // namespace zip::train

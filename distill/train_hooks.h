// The loop's hooks for plain training (zip train, zip bench --train --config): cross-entropy
// forward and backward, AdamW, checkpoint state; phases "forward" (with the loss), "backward"
// and "optimizer" on the clock when one is given.
#pragma once
#include "distill/phase_clock.h"
#include "distill/train_loop.h"

namespace zip::distill {

// The model, optimizer and ops must outlive the hooks.
LoopHooks train_hooks(train::TrainModel& tm, train::AdamW& adam, train::TrainOps& ops, PhaseClock* clock = nullptr);

}  // namespace zip::distill

// A human-readable summary of Minitron importance scores (zip importance): per layer Block
// Importance, the loss increase when the layer is dropped, the top and bottom heads and the
// quantiles of the FFN neuron scores; the quantiles of the embedding-channel scores.
#pragma once
#include <string>
#include <vector>

#include "prune/minitron/importance.h"

namespace zip::minitron {

// q-quantiles (q in [0, 1]) of the values by linear interpolation between order statistics.
std::vector<double> quantiles(std::vector<double> v, const std::vector<double>& q);

std::string importance_summary(const Importance& imp);

}  // namespace zip::minitron

// Random initialisation of a model to train from scratch (GPT-2 / llama2.c style): weights
// normal(0, 0.02), output projections (attn_output, ffn_down) scaled by 1/sqrt(2·n_layers) so
// the residual stream's variance does not grow with depth, norm weights 1, biases 0.
// Deterministic for a seed on every platform (own generator, no std:: distributions).
#pragma once
#include <cstdint>

#include "engine/model.h"

namespace zip::distill {

Model random_init(const ModelConfig& c, uint64_t seed);

}  // namespace zip::distill

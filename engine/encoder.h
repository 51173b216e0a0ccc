// Encoder outputs on top of the forward pass: last hidden states, the pooler, a classification
// head, and sentence embeddings (mean or [CLS] pooling, optional L2 normalisation).
#pragma once
#include <vector>

#include "engine/forward.h"

namespace zip {

struct EncoderOutput {
  int n_tokens = 0;
  std::vector<float> hidden;     // [n_tokens, dim]
  std::vector<float> pooled;     // [dim]: tanh(W·h[CLS] + b), when the model has a pooler
  std::vector<float> logits;     // [labels], when it has a classifier
  std::vector<float> embedding;  // [dim]: the sentence embedding (config.pooling; mean by default)
};

// One sequence (no padding: attention is over exactly these tokens). types may be empty (all 0).
EncoderOutput run_encoder(InferenceContext& ctx, const std::vector<int>& ids, const std::vector<int>& types);

// Mean over rows of h [n, dim].
std::vector<float> mean_pool(const float* h, int n, int dim);
void l2_normalize(std::vector<float>& v);
// Softmax of logits as probabilities.
std::vector<float> softmax_probs(const std::vector<float>& logits);

}  // namespace zip

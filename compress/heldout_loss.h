// The loss the search judges a stitched model by, on held-out calibration windows: the mean
// next-token negative log-likelihood for decoders; for encoders (no LM head), 1 − cos to the
// dense model's output, either per token of the final hidden states or per window of the
// sentence embedding (EncoderLoss::Pooled: the model's own pooling, what a sentence-embedding
// model is used for), or how the embeddings' pairwise similarities follow the dense model's
// (EncoderLoss::Similarity: what retrieval and STS use of them). Also the mean KL(dense ‖ model)
// of the next-token distributions, for the report, and a divergence from the dense model for
// sensitivity probes that can skip the layers a model shares with it.
#pragma once
#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/model.h"

namespace zip {

enum class EncoderLoss {
  Tokens,  // mean over tokens of 1 − cos(h, h_dense), final hidden states
  Pooled,  // mean over windows of 1 − cos(e, e_dense), sentence embeddings (config.pooling)
  // 1 − Pearson correlation, over all pairs of windows, of cos(e_i, e_j) with the dense model's:
  // blind to any change that keeps how alike the model finds two texts (a shared drift of every
  // embedding, a monotone squeeze of the similarity scale), which a similarity ranking is.
  Similarity,
};

class HeldoutLoss {
 public:
  // keep_dense_probs = false: a decoder keeps no dense next-token distributions (vocab floats per
  // token), so loss() works and kl()/divergence() do not; for a loss-only check on many windows.
  HeldoutLoss(const Model& dense, std::vector<std::vector<int>> windows, int threads,
              EncoderLoss encoder_loss = EncoderLoss::Tokens, bool keep_dense_probs = true);
  // The mean loss; with `kl` (decoders, dense distributions kept) also KL(dense ‖ m) from the
  // same forward pass (what the report wants of every member).
  double loss(const Model& m, double* kl = nullptr);
  double kl(const Model& m);  // decoders; 0 for encoders
  double dense_loss() { return dense_loss_; }

  // How far `m` is from the dense model on the first `windows` windows (0: all): KL for decoders,
  // the encoder loss for encoders. `m` must equal the dense model in every layer below
  // `first_layer`; those layers are not run (the dense model's residual stream entering
  // first_layer is kept from one pass of the dense model, made on first use).
  double divergence(const Model& m, int first_layer, int windows = 0);

 private:
  void keep_dense_outputs();
  // Runs window k through `m` from `first_layer` (0: from the tokens): decoder logits [n, vocab]
  // or encoder hidden states [n, dim].
  const float* run(class InferenceContext& ctx, size_t k, int first_layer);
  double window_kl(const float* logits, size_t k, int V) const;
  double kl_row(const float* z, double lse, size_t k, size_t i, size_t first_row) const;
  // Encoders: Σ of 1 − cos over the window's units (tokens, or its one sentence embedding).
  double window_cos(const float* h, size_t k, int D) const;
  // What one window counts for in the mean: its tokens, or 1 (pooled encoder loss).
  int64_t units(size_t k) const { return pooled_ ? 1 : int64_t(windows_[k].size()); }
  std::vector<float> embed(const float* h, size_t k, int D) const;
  // EncoderLoss::Similarity of the embeddings of windows 0..emb.size()-1.
  double similarity_loss(const std::vector<std::vector<float>>& emb) const;

  const Model& dense_;
  std::vector<std::vector<int>> windows_;
  std::unique_ptr<Backend> backend_;
  bool encoder_;
  bool pooled_;      // encoder loss on sentence embeddings
  bool similarity_;  // ... on their pairwise similarities
  bool probs_;       // decoder: dense distributions kept (kl and divergence available)
  int len_ = 0;
  std::vector<std::vector<float>> dense_out_;  // per window: encoder hidden states (or embedding) or decoder probabilities
  struct DenseRow {
    double neg_entropy, mass;  // Σ p·log p and Σ p of one decoder row (the stored p are rounded)
  };
  std::vector<DenseRow> dense_row_;  // decoder rows of all windows, in order
  std::vector<std::vector<float>> residual_;   // per layer l, per window: stream entering l (lazily)
  double dense_loss_ = 0;
};

}  // namespace zip

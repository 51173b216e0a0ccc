// A model being trained: f32 master parameters keyed by canonical name (engine/model.h), their
// gradients, and the activations one forward pass saves for the backward. It computes exactly
// the function of the inference forward (engine/forward.h) for every family and every per-layer
// shape (uneven KV groups, removed modules keeping their output bias and post-norm), over a batch
// of B sequences × T tokens: causal for decoders, bidirectional with per-sequence lengths
// (right padding) for encoders.
//
// A training loop: zero_grad(); loss = forward(batch); [add external loss gradients into the
// seeds]; backward(); optimizer step on params()/grads(); to_model() to save.
// All math goes through TrainOpsT, so the buffers live on that implementation's device.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/model.h"
#include "engine/train/train_ops.h"

namespace zip::train {

// One batch, in host memory. Row b·T + t is token t of sequence b.
struct Batch {
  int B = 0, T = 0;
  const int* tokens = nullptr;   // [B·T] token ids
  const int* targets = nullptr;  // [B·T] next-token targets (decoders), < 0 ignored; nullptr: no LM loss
  const int* types = nullptr;    // [B·T] token types (encoders with token types); nullptr: all 0
  const int* lengths = nullptr;  // [B] real tokens per sequence (1..T, padding after); nullptr: all T
  const int* labels = nullptr;   // [B] classifier labels (encoders with a classifier); nullptr: no loss
};

struct TrainOptions {
  int max_B = 1, max_T = 0;  // capacity: activations are allocated once (max_T 0 = max_seq_len)
  // Keep only each block's input and recompute the block during the backward: activation
  // memory ~ (n_layers·dim + one block) per token instead of every block's intermediates.
  bool recompute = false;
  // Inference only (a distillation teacher): no gradient buffers, no backward scratch, and one
  // block's activations shared by every block; backward() is refused.
  bool forward_only = false;
  // Decoders: false leaves the LM head and its loss to the caller (TrainOps::vocab_loss on
  // hidden() and head_weight(), its gradient into hidden_grad() and head_grad()): no [rows, vocab]
  // logits or logit gradients, and forward() returns 0.
  bool lm_head = true;
};

// One parameter tensor inside the flat parameter buffer.
struct ParamInfo {
  std::string name;
  std::vector<int64_t> shape;
  size_t offset = 0, numel = 0;
  bool embedding = false;  // tok_embd / pos_embd / type_embd (no weight decay by default)
};

template <typename T>
class TrainModelT {
 public:
  // Copies (and widens) the model's weights into master parameters.
  TrainModelT(const Model& model, TrainOpsT<T>& ops, const TrainOptions& opt);
  ~TrainModelT();
  TrainModelT(const TrainModelT&) = delete;
  TrainModelT& operator=(const TrainModelT&) = delete;

  const ModelConfig& config() const { return config_; }
  TrainOpsT<T>& ops() { return ops_; }

  // ---- parameters and gradients: one flat buffer each, tensors in expected_tensors() order ----
  const std::vector<ParamInfo>& params() const { return params_; }
  size_t n_params() const { return n_params_; }
  T* param_data() { return p_; }
  T* grad_data() { return g_; }
  const ParamInfo& info(const std::string& name) const;
  T* param(const std::string& name) { return p_ + info(name).offset; }
  T* grad(const std::string& name) { return g_ + info(name).offset; }
  void zero_grad();
  // Replaces the parameters with a model's weights (same config).
  void load(const Model& model);
  // The parameters as a Model: f32 tensors under canonical names, with the source model's
  // config, tokenizer and provenance (ready for the .zlm writer).
  Model to_model() const;

  // ---- forward / backward --------------------------------------------------------------------
  // Runs the batch and keeps what the backward needs. Returns the built-in loss: decoders with
  // targets: mean cross-entropy over the targets >= 0 (padding rows never count); encoders with
  // labels: mean classifier cross-entropy over the sequences; otherwise 0.
  double forward(const Batch& batch);
  // Accumulates into the gradients: loss_scale·d(built-in loss) plus whatever the caller added
  // into the seeds below since forward() (which zeroes them).
  void backward(double loss_scale = 1.0);

  // Outputs of the last forward (device memory; rows as in the batch).
  int rows() const { return B_ * T_; }
  T* logits() { return logits_; }              // decoders with lm_head: [rows, vocab]
  T* head_weight() { return w(lm_head_); }     // decoders: the LM head [vocab, dim] (tok_embd if tied)
  T* head_grad() { return gw(lm_head_); }
  T* hidden();                                  // final hidden states [rows, dim]: after the final
                                                // norm (decoders), the last block's output (encoders)
  T* residual(int l);                           // stream entering block l; l = n_layers: after the last
  T* class_logits() { return cls_logits_; }     // encoders with a classifier: [B, labels]
  const int* lengths_device() const { return lengths_; }  // [B]
  const int* targets_device() const { return targets_; }  // [rows]: the counted targets, else -1
  int n_targets() const { return n_targets_; }
  // Gradient seeds, same shapes as the outputs above: d(external loss)/d(output).
  T* logits_grad() { return dlogits_; }
  T* hidden_grad();
  T* residual_grad(int l);
  T* class_logits_grad() { return dcls_logits_; }

 private:
  // A parameter by offset into the flat buffers (absent: npos).
  struct Ref {
    size_t off = size_t(-1);
    bool ok() const { return off != size_t(-1); }
  };
  struct Norm {
    Ref w, b;  // b: LayerNorm shift (absent for RMSNorm)
  };
  struct LayerRefs {
    Ref wq, wk, wv, wo, bq, bk, bv, bo;  // bo may exist without the attention (a removed module)
    Ref wg, wu, wd, bg, bu, bd;          // gate (SwiGLU only), up, down
    Norm attn_norm, ffn_norm;            // pre-norm blocks
    Norm attn_out_norm, ffn_out_norm;    // post-norm blocks
  };
  // What one block saves (absent parts stay nullptr). Pre-norm: mid = x_in + attn(norm(x_in)),
  // x_out = mid + ffn(norm(mid)). Post-norm: s1 = x_in + attn(x_in), mid = norm(s1),
  // s2 = mid + ffn(mid), x_out = norm(s2).
  struct Acts {
    T *ln1 = nullptr, *ln1_mean = nullptr, *ln1_rstd = nullptr;
    T *q = nullptr, *k = nullptr, *v = nullptr, *att = nullptr, *lse = nullptr;
    T *s1 = nullptr, *s1_mean = nullptr, *s1_rstd = nullptr, *mid = nullptr;
    T *ln2 = nullptr, *ln2_mean = nullptr, *ln2_rstd = nullptr;
    T *gate = nullptr, *up = nullptr, *h = nullptr;
    T *s2 = nullptr, *s2_mean = nullptr, *s2_rstd = nullptr;
  };
  T* w(const Ref& r) const;
  T* gw(const Ref& r) const;
  T* buf(size_t n);  // a zeroed device buffer owned by the model
  void alloc_acts(Acts& a, int l_first, int l_last);
  void norm_fwd(T* y, T* mean, T* rstd, const T* x, const Norm& n, int M);
  void norm_bwd(T* dx, const T* dy, const T* x, const T* mean, const T* rstd, const Norm& n, int M);
  void block_fwd(int l, Acts& a, const T* x_in, T* x_out);
  void block_bwd(int l, Acts& a, const T* x_in);
  void upload_batch(const Batch& b);
  bool shared_acts() const { return opt_.recompute || opt_.forward_only; }
  Acts& acts(int l) { return shared_acts() ? acts_[0] : acts_[size_t(l)]; }
  AttnDims attn_dims(int l) const;
  GeluKind gelu_kind() const {
    return config_.info().act == Activation::GeluErf ? GeluKind::Erf : GeluKind::Tanh;
  }

  TrainOpsT<T>& ops_;
  TrainOptions opt_;
  ModelConfig config_;
  std::shared_ptr<const TokenizerData> tokenizer_;
  nlohmann::json provenance_;
  std::vector<ParamInfo> params_;
  std::map<std::string, size_t> index_;
  size_t n_params_ = 0;
  T *p_ = nullptr, *g_ = nullptr;
  std::vector<void*> owned_;
  std::vector<LayerRefs> layers_;
  Norm final_norm_;  // pre-norm families
  Ref lm_head_;      // decoders: `output`, or tok_embd when tied
  std::vector<Acts> acts_;  // one per layer, or one shared set when recomputing
  int B_ = 0, T_ = 0, n_targets_ = 0;
  bool has_labels_ = false;
  // Batch on the device.
  int *tokens_ = nullptr, *targets_ = nullptr, *types_ = nullptr, *lengths_ = nullptr, *labels_ = nullptr,
      *positions_ = nullptr;
  std::vector<int> kv_of_q_host_;  // concatenated per layer (host, AttnDims)
  std::vector<size_t> kv_of_q_at_;
  // Embeddings, residual stream, head.
  T *emb_ = nullptr, *emb_mean_ = nullptr, *emb_rstd_ = nullptr;
  std::vector<T*> res_;  // n_layers + 1
  T *xf_ = nullptr, *xf_mean_ = nullptr, *xf_rstd_ = nullptr, *logits_ = nullptr, *row_loss_ = nullptr;
  T *cls_in_ = nullptr, *pool_pre_ = nullptr, *pooled_ = nullptr, *cls_logits_ = nullptr;
  // Seeds and backward scratch.
  T *dlogits_ = nullptr, *dxf_ = nullptr, *dcls_logits_ = nullptr;
  std::vector<T*> dres_seed_;  // lazily allocated, n_layers + 1
  T *dcur_ = nullptr, *dtmp_ = nullptr, *dln_ = nullptr, *dq_ = nullptr, *dk_ = nullptr, *dv_ = nullptr,
    *datt_ = nullptr, *dh_ = nullptr, *dgate_ = nullptr, *dup_ = nullptr, *dpool_ = nullptr, *dcls_in_ = nullptr;
};

using TrainModel = TrainModelT<float>;

}  // namespace zip::train

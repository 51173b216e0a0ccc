// Inference forward pass over any Backend, for every family in the architecture table: decoders
// (Llama, GPT-2) with a KV cache, and encoders (BERT) one sequence at a time. Every layer uses its
// own shape (heads, KV groups, FFN width, absent modules). Two instruments are built in because
// compression needs them: an observer that sees the input of every linear layer and the
// residual stream, and in-place timing of every module during real forward passes.
#pragma once
#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "engine/backend.h"
#include "engine/model.h"

namespace zip {

enum class LinearKind : uint8_t { Q, K, V, O, Gate, Up, Down, Output };
const char* linear_name(LinearKind k);

// Sees activations as they flow (CPU memory: copied from a device backend). Default methods do nothing.
struct ForwardObserver {
  virtual ~ForwardObserver() = default;
  // x [rows, cols]: the input of linear `kind` in `layer` (layer -1: the LM head). Q/K/V share
  // one input, reported once as Q; Gate/Up share one, reported as Gate (gated FFN) or Up.
  virtual void on_linear_input(int layer, LinearKind kind, const float* x, int rows, int cols) {
    (void)layer, (void)kind, (void)x, (void)rows, (void)cols;
  }
  // x [rows, dim]: the residual stream entering `layer`; layer == n_layers is the stream after
  // the last block (before the final norm).
  virtual void on_residual(int layer, const float* x, int rows, int dim) { (void)layer, (void)x, (void)rows, (void)dim; }
};

// Wall time of each module measured inside real forward passes, accumulated over calls.
struct ModuleTimes {
  std::vector<double> attn_ns, ffn_ns;  // per layer
  double head_ns = 0;                   // embedding + final norm + LM head
  double total_ns = 0;                  // whole eval() calls
  int64_t calls = 0;
  void reset(int n_layers);
};

// Runs on any backend: activations, KV caches and f32 parameters are allocated through it and
// weights uploaded once (device backends); logits and hidden states come back in host memory.
class InferenceContext {
 public:
  // ctx_len 0 = the model's max_seq_len. max_batch: rows processed per chunk. n_seq: independent
  // sequences (one KV cache each) for batched decoding; cache pages are committed only when used.
  InferenceContext(const Model& model, Backend& backend, int ctx_len = 0, int max_batch = 256, int n_seq = 1);

  // Runs `n` tokens of sequence 0 at positions pos()..pos()+n-1 and advances pos(). Returns
  // logits: [n, vocab] when all_logits, else [1, vocab] for the last token. Throws if the context
  // would overflow.
  const float* eval(const int* tokens, int n, bool all_logits = false);
  const float* eval(const std::vector<int>& tokens, bool all_logits = false) {
    return eval(tokens.data(), int(tokens.size()), all_logits);
  }

  // Batched decoding: row i appends tokens[i] to sequence seqs[i] (rows of one sequence in
  // order; n ≤ max_batch). Returns logits for every row when all_logits, else for the last row of
  // each sequence present, in order of first appearance. Matmuls run once over all rows.
  const float* eval_batch(const int* tokens, const int* seqs, int n, bool all_logits);

  // Encoders: runs one whole sequence (positions 0..n-1, bidirectional attention) and returns
  // the last hidden states [n, dim] (host memory). `types` are token-type ids (nullptr: all 0).
  const float* encode(const int* tokens, const int* types, int n);

  // Resumes a forward pass part-way: `n` rows (n ≤ max_batch) of sequence 0 at positions
  // pos()..pos()+n-1 go through layers first_layer.. only, starting from `residual` [n, dim]
  // (host memory), the stream entering first_layer — what an observer's on_residual saw for the
  // same rows. Layers below are skipped and their KV caches left unfilled, so later calls must
  // resume at the same layer or above until reset(). Returns what eval() (decoders) or encode()
  // (encoders, pos() = 0) returns. For re-running a model that differs from another only from
  // some layer on, without recomputing the shared prefix.
  const float* eval_from_layer(int first_layer, const float* residual, int n, bool all_logits = false);

  int pos(int seq = 0) const { return pos_.at(size_t(seq)); }
  void reset() { std::fill(pos_.begin(), pos_.end(), 0); }
  // Forget everything of sequence `seq` after position p (keeps its cache for [0, p)).
  void rewind(int p, int seq = 0);
  // Sequence `to` takes the first n positions of sequence `from` (their keys and values copied)
  // and continues at pos(to) = n: several continuations of one prompt run its prefix once.
  void copy_prefix(int from, int to, int n);
  int ctx_len() const { return ctx_len_; }
  int n_seq() const { return int(pos_.size()); }
  int max_batch() const { return max_batch_; }
  int vocab_size() const { return model_.config.vocab_size; }
  const Model& model() const { return model_; }
  Backend& backend() { return backend_; }

  void set_observer(ForwardObserver* o) { observer_ = o; }
  void set_timing(ModuleTimes* t);

 private:
  struct Norm {
    const float *w = nullptr, *b = nullptr;  // b: LayerNorm shift (nullptr for RMSNorm)
  };
  struct LayerWeights {
    const Tensor *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr;
    const Tensor *w_gate = nullptr, *w_up = nullptr, *w_down = nullptr;
    const float *bq = nullptr, *bk = nullptr, *bv = nullptr, *bo = nullptr;  // biases (GPT-2, BERT)
    const float *b_gate = nullptr, *b_up = nullptr, *b_down = nullptr;
    Norm attn_norm, ffn_norm;            // pre-norm blocks
    Norm attn_out_norm, ffn_out_norm;    // post-norm blocks (BERT)
    std::vector<int> kv_of_q;
    // Per sequence s, at offset s·cache_floats: [n_kv, head_dim, ctx_len] (backend.h), on the backend.
    std::shared_ptr<float> k_cache, v_cache;
    size_t cache_floats = 0;
  };
  // A maximal group of consecutive rows of one sequence at consecutive positions.
  struct Run {
    int seq, row0, n, pos0;
  };
  void plan_rows(const int* seqs, int n);  // fills positions_ and runs_
  void embed(const int* tokens, const int* types, int n);
  void run_layers(int n, int first_layer = 0);
  // Rows (n ≤ max_batch), then logits for the rows listed in logit_rows into out.
  void eval_rows(const int* tokens, const int* seqs, int n, const std::vector<int>& logit_rows, float* out);
  // Final norm and LM head of the listed rows of x_ into out (nullptr: logits_).
  void logits_head(const std::vector<int>& logit_rows, float* out = nullptr);
  void attention_block(int l, int n);
  void ffn_block(int l, int n);
  void norm(float* y, const float* x, const Norm& nw, int n);
  const float* f32(const std::string& name);          // a 1-D tensor as f32 on the backend (copied if needed)
  const float* f32_opt(const std::string& name);      // nullptr if absent
  Norm norm_weights(const std::string& name);
  const Tensor* weight(const std::string& name);      // a weight resident on the backend
  const Tensor* weight_opt(const std::string& name);  // nullptr if absent
  std::shared_ptr<float> floats(size_t n);            // zeroed backend memory, released with the context
  float* device_logits(size_t n);                     // device backends: scratch for the LM head
  const float* host_view(const float* x, size_t n);   // x in host memory (copied from a device)
  double clock();                                     // now, after queued work (timing only)

  const Model& model_;
  Backend& backend_;
  bool on_host_;  // the backend computes in host memory: no uploads, no copies back
  int ctx_len_, max_batch_;
  std::vector<int> pos_;  // next position of each sequence
  std::vector<Run> runs_;
  std::vector<LayerWeights> layers_;
  const Tensor* tok_embd_ = nullptr;
  const Tensor* pos_embd_ = nullptr;   // learned positions (GPT-2, BERT)
  const Tensor* type_embd_ = nullptr;  // token types (BERT)
  const Tensor* output_ = nullptr;     // LM head (decoders)
  Norm embd_norm_, output_norm_;
  std::vector<std::shared_ptr<float>> f32_copies_;  // 1-D tensors widened to f32 and/or uploaded
  std::deque<Tensor> uploaded_;                      // device copies of the weights (stable addresses)
  // Activations on the backend, [max_batch, width] each.
  std::shared_ptr<float> x_, xn_, gathered_, q_, k_, v_, att_, gate_, up_;
  std::shared_ptr<float> dlogits_;  // device backends: LM-head output before the copy to logits_
  size_t dlogits_n_ = 0;
  std::vector<float> logits_, host_tmp_;  // host: returned logits; observer / encode copies
  std::vector<int> positions_, zeros_;
  ForwardObserver* observer_ = nullptr;
  ModuleTimes* timing_ = nullptr;
};

}  // namespace zip

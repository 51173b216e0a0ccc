// Inference forward pass of a decoder with a KV cache, over any Backend. Every layer uses its
// own shape (heads, KV groups, FFN width, absent modules). Two instruments are built in because
// compression needs them: an observer that sees the input of every linear layer and the
// residual stream, and in-place timing of every module during real forward passes.
#pragma once
#include <cstdint>
#include <vector>

#include "engine/backend.h"
#include "engine/model.h"

namespace zip {

enum class LinearKind : uint8_t { Q, K, V, O, Gate, Up, Down, Output };
const char* linear_name(LinearKind k);

// Sees activations as they flow (CPU memory). Default methods do nothing.
struct ForwardObserver {
  virtual ~ForwardObserver() = default;
  // x [rows, cols]: the input of linear `kind` in `layer` (layer -1: the LM head). Q/K/V (and
  // Gate/Up) share one input; it is reported once, as Q (Gate).
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

class InferenceContext {
 public:
  // ctx_len 0 = the model's max_seq_len. max_batch: tokens processed per chunk in eval().
  InferenceContext(const Model& model, Backend& backend, int ctx_len = 0, int max_batch = 256);

  // Runs `n` tokens at positions pos()..pos()+n-1 and advances pos(). Returns logits: [n, vocab]
  // when all_logits, else [1, vocab] for the last token. Throws if the context would overflow.
  const float* eval(const int* tokens, int n, bool all_logits = false);
  const float* eval(const std::vector<int>& tokens, bool all_logits = false) {
    return eval(tokens.data(), int(tokens.size()), all_logits);
  }

  int pos() const { return pos_; }
  void reset() { pos_ = 0; }
  // Forget everything after position p (keeps the cache for [0, p)).
  void rewind(int p);
  int ctx_len() const { return ctx_len_; }
  int vocab_size() const { return model_.config.vocab_size; }
  const Model& model() const { return model_; }
  Backend& backend() { return backend_; }

  void set_observer(ForwardObserver* o) { observer_ = o; }
  void set_timing(ModuleTimes* t);

 private:
  struct LayerWeights {
    const Tensor *wq = nullptr, *wk = nullptr, *wv = nullptr, *wo = nullptr;
    const Tensor *w_gate = nullptr, *w_up = nullptr, *w_down = nullptr;
    const float *attn_norm = nullptr, *ffn_norm = nullptr;
    std::vector<int> kv_of_q;
    std::vector<float> k_cache, v_cache;  // [n_kv, head_dim, ctx_len] (backend.h)
  };
  void eval_chunk(const int* tokens, int n, float* logits_out, bool all_logits);
  void attention_block(int l, int n);
  void ffn_block(int l, int n);
  const float* f32_norm(const std::string& name);

  const Model& model_;
  Backend& backend_;
  int ctx_len_, max_batch_, pos_ = 0;
  std::vector<LayerWeights> layers_;
  const Tensor* tok_embd_ = nullptr;
  const Tensor* output_ = nullptr;
  const float* output_norm_ = nullptr;
  std::vector<std::vector<float>> norm_copies_;  // f32 copies of norms stored as f16/bf16
  // Activations, [max_batch, width] each.
  std::vector<float> x_, xn_, q_, k_, v_, att_, gate_, up_, logits_, last_logits_;
  std::vector<int> positions_;
  ForwardObserver* observer_ = nullptr;
  ModuleTimes* timing_ = nullptr;
};

}  // namespace zip

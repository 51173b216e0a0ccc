#include "engine/forward.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine/error.h"

namespace zip {

const char* linear_name(LinearKind k) {
  static const char* names[] = {"q", "k", "v", "o", "gate", "up", "down", "output"};
  return names[int(k)];
}

void ModuleTimes::reset(int n_layers) {
  attn_ns.assign(size_t(n_layers), 0.0);
  ffn_ns.assign(size_t(n_layers), 0.0);
  head_ns = total_ns = 0;
  calls = 0;
}

static double now_ns() {
  return double(std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count());
}

const float* InferenceContext::f32_norm(const std::string& name) {
  const Tensor& t = model_.get(name);
  if (t.dtype == DType::F32) return t.ptr<float>();
  norm_copies_.push_back(t.to_floats());
  return norm_copies_.back().data();
}

InferenceContext::InferenceContext(const Model& model, Backend& backend, int ctx_len, int max_batch)
    : model_(model), backend_(backend) {
  const ModelConfig& c = model.config;
  ZIP_CHECK(c.info().causal, "InferenceContext: {} is not a decoder", c.info().name);
  ctx_len_ = ctx_len > 0 ? ctx_len : c.max_seq_len;
  ZIP_CHECK(ctx_len_ <= c.max_seq_len, "context length {} exceeds the model's maximum {}", ctx_len_, c.max_seq_len);
  max_batch_ = std::max(1, std::min(max_batch, ctx_len_));
  norm_copies_.reserve(size_t(2 * c.n_layers() + 1));

  tok_embd_ = &model.get("tok_embd");
  output_ = c.tied_embeddings ? tok_embd_ : &model.get("output");
  output_norm_ = f32_norm("output_norm");
  size_t hd = size_t(c.head_dim), max_q = 0, max_kv = 0, max_ffn = 0;
  layers_.resize(size_t(c.n_layers()));
  for (int l = 0; l < c.n_layers(); l++) {
    const LayerShape& s = c.layers[size_t(l)];
    LayerWeights& w = layers_[size_t(l)];
    if (s.has_attention()) {
      w.attn_norm = f32_norm(layer_tensor(l, "attn_norm"));
      w.wq = &model.get(layer_tensor(l, "attn_q"));
      w.wk = &model.get(layer_tensor(l, "attn_k"));
      w.wv = &model.get(layer_tensor(l, "attn_v"));
      w.wo = &model.get(layer_tensor(l, "attn_output"));
      w.kv_of_q = s.kv_of_q();
      size_t cache = size_t(s.n_kv_heads()) * size_t(ctx_len_) * hd;
      w.k_cache.assign(cache, 0.0f);
      w.v_cache.assign(cache, 0.0f);
      max_q = std::max(max_q, size_t(s.n_heads()) * hd);
      max_kv = std::max(max_kv, size_t(s.n_kv_heads()) * hd);
    }
    if (s.has_ffn()) {
      w.ffn_norm = f32_norm(layer_tensor(l, "ffn_norm"));
      w.w_gate = &model.get(layer_tensor(l, "ffn_gate"));
      w.w_up = &model.get(layer_tensor(l, "ffn_up"));
      w.w_down = &model.get(layer_tensor(l, "ffn_down"));
      max_ffn = std::max(max_ffn, size_t(s.ffn_dim));
    }
  }
  size_t B = size_t(max_batch_), D = size_t(c.dim);
  x_.assign(B * D, 0);
  xn_.assign(B * D, 0);
  q_.assign(B * max_q, 0);
  k_.assign(B * max_kv, 0);
  v_.assign(B * max_kv, 0);
  att_.assign(B * max_q, 0);
  gate_.assign(B * max_ffn, 0);
  up_.assign(B * max_ffn, 0);
  positions_.assign(B, 0);
}

void InferenceContext::set_timing(ModuleTimes* t) {
  timing_ = t;
  if (t && int(t->attn_ns.size()) != model_.config.n_layers()) t->reset(model_.config.n_layers());
}

void InferenceContext::rewind(int p) {
  ZIP_CHECK(p >= 0 && p <= pos_, "rewind to {} outside [0, {}]", p, pos_);
  pos_ = p;
}

const float* InferenceContext::eval(const int* tokens, int n, bool all_logits) {
  ZIP_CHECK(n > 0, "eval: no tokens");
  ZIP_CHECK(pos_ + n <= ctx_len_, "{} tokens at position {} exceed the context length {}", n, pos_, ctx_len_);
  int V = model_.config.vocab_size;
  for (int i = 0; i < n; i++)
    ZIP_CHECK(tokens[i] >= 0 && tokens[i] < V, "token id {} out of range (vocabulary {})", tokens[i], V);
  double t0 = timing_ ? now_ns() : 0;
  size_t rows = all_logits ? size_t(n) : 1;
  if (logits_.size() < rows * size_t(V)) logits_.resize(rows * size_t(V));
  for (int done = 0; done < n;) {
    int chunk = std::min(max_batch_, n - done);
    bool last = done + chunk == n;
    float* out = all_logits ? logits_.data() + size_t(done) * V : (last ? logits_.data() : nullptr);
    eval_chunk(tokens + done, chunk, out, all_logits);
    done += chunk;
  }
  if (timing_) {
    timing_->total_ns += now_ns() - t0;
    timing_->calls++;
  }
  return logits_.data();
}

void InferenceContext::eval_chunk(const int* tokens, int n, float* logits_out, bool all_logits) {
  const ModelConfig& c = model_.config;
  int D = c.dim;
  double t = timing_ ? now_ns() : 0;
  for (int i = 0; i < n; i++) positions_[size_t(i)] = pos_ + i;
  backend_.embedding(x_.data(), *tok_embd_, tokens, n);
  if (timing_) timing_->head_ns += now_ns() - t;

  for (int l = 0; l < c.n_layers(); l++) {
    if (observer_) observer_->on_residual(l, x_.data(), n, D);
    if (c.layers[size_t(l)].has_attention()) {
      t = timing_ ? now_ns() : 0;
      attention_block(l, n);
      if (timing_) timing_->attn_ns[size_t(l)] += now_ns() - t;
    }
    if (c.layers[size_t(l)].has_ffn()) {
      t = timing_ ? now_ns() : 0;
      ffn_block(l, n);
      if (timing_) timing_->ffn_ns[size_t(l)] += now_ns() - t;
    }
  }
  if (observer_) observer_->on_residual(c.n_layers(), x_.data(), n, D);
  pos_ += n;
  if (!logits_out) return;

  t = timing_ ? now_ns() : 0;
  // Only the rows whose logits are wanted go through the final norm and the LM head.
  int first = all_logits ? 0 : n - 1, rows = n - first;
  backend_.rmsnorm(xn_.data(), x_.data() + size_t(first) * D, output_norm_, rows, D, c.norm_eps);
  if (observer_) observer_->on_linear_input(-1, LinearKind::Output, xn_.data(), rows, D);
  backend_.matmul(logits_out, xn_.data(), *output_, nullptr, rows);
  if (timing_) timing_->head_ns += now_ns() - t;
}

void InferenceContext::attention_block(int l, int n) {
  const ModelConfig& c = model_.config;
  const LayerShape& s = c.layers[size_t(l)];
  LayerWeights& w = layers_[size_t(l)];
  int D = c.dim, hd = c.head_dim, nq = s.n_heads(), nkv = s.n_kv_heads();
  backend_.rmsnorm(xn_.data(), x_.data(), w.attn_norm, n, D, c.norm_eps);
  if (observer_) observer_->on_linear_input(l, LinearKind::Q, xn_.data(), n, D);
  backend_.matmul(q_.data(), xn_.data(), *w.wq, nullptr, n);
  backend_.matmul(k_.data(), xn_.data(), *w.wk, nullptr, n);
  backend_.matmul(v_.data(), xn_.data(), *w.wv, nullptr, n);
  backend_.rope(q_.data(), n, nq, hd, positions_.data(), c.rope_theta);
  backend_.rope(k_.data(), n, nkv, hd, positions_.data(), c.rope_theta);
  backend_.kv_store(w.k_cache.data(), k_.data(), n, nkv, hd, pos_, ctx_len_);
  backend_.kv_store(w.v_cache.data(), v_.data(), n, nkv, hd, pos_, ctx_len_);
  AttentionArgs a;
  a.n_tokens = n;
  a.pos0 = pos_;
  a.n_heads = nq;
  a.head_dim = hd;
  a.kv_of_q = w.kv_of_q.data();
  a.cache_len = ctx_len_;
  a.scale = 1.0f / std::sqrt(float(hd));
  backend_.attention(att_.data(), q_.data(), w.k_cache.data(), w.v_cache.data(), a);
  if (observer_) observer_->on_linear_input(l, LinearKind::O, att_.data(), n, nq * hd);
  backend_.matmul(xn_.data(), att_.data(), *w.wo, nullptr, n);
  backend_.add(x_.data(), xn_.data(), size_t(n) * D);
}

void InferenceContext::ffn_block(int l, int n) {
  const ModelConfig& c = model_.config;
  const LayerShape& s = c.layers[size_t(l)];
  LayerWeights& w = layers_[size_t(l)];
  int D = c.dim, F = s.ffn_dim;
  backend_.rmsnorm(xn_.data(), x_.data(), w.ffn_norm, n, D, c.norm_eps);
  if (observer_) observer_->on_linear_input(l, LinearKind::Gate, xn_.data(), n, D);
  backend_.matmul(gate_.data(), xn_.data(), *w.w_gate, nullptr, n);
  backend_.matmul(up_.data(), xn_.data(), *w.w_up, nullptr, n);
  backend_.swiglu(gate_.data(), gate_.data(), up_.data(), size_t(n) * F);
  if (observer_) observer_->on_linear_input(l, LinearKind::Down, gate_.data(), n, F);
  backend_.matmul(xn_.data(), gate_.data(), *w.w_down, nullptr, n);
  backend_.add(x_.data(), xn_.data(), size_t(n) * D);
}

}  // namespace zip

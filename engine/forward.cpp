#include "engine/forward.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>

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

const float* InferenceContext::f32(const std::string& name) {
  const Tensor& t = model_.get(name);
  if (on_host_ && t.dtype == DType::F32) return t.ptr<float>();
  std::vector<float> v = t.to_floats();
  f32_copies_.push_back(floats(v.size()));
  backend_.to_device(f32_copies_.back().get(), v.data(), v.size());
  return f32_copies_.back().get();
}

const float* InferenceContext::f32_opt(const std::string& name) {
  return model_.find(name) ? f32(name) : nullptr;
}

InferenceContext::Norm InferenceContext::norm_weights(const std::string& name) {
  return {f32(name), f32_opt(name + ".bias")};
}

const Tensor* InferenceContext::weight(const std::string& name) {
  const Tensor& t = model_.get(name);
  if (on_host_) return &t;
  uploaded_.push_back(backend_.upload(t));
  return &uploaded_.back();
}

const Tensor* InferenceContext::weight_opt(const std::string& name) {
  return model_.find(name) ? weight(name) : nullptr;
}

// Zeroed backend memory (host backends: calloc, so untouched KV-cache pages cost no memory).
std::shared_ptr<float> InferenceContext::floats(size_t n) {
  Backend* b = &backend_;
  return std::shared_ptr<float>(b->alloc(n), [b](float* p) { b->release(p); });
}

float* InferenceContext::device_logits(size_t n) {
  if (dlogits_n_ < n) {
    dlogits_.reset();
    dlogits_ = floats(n);
    dlogits_n_ = n;
  }
  return dlogits_.get();
}

const float* InferenceContext::host_view(const float* x, size_t n) {
  if (on_host_) return x;
  if (host_tmp_.size() < n) host_tmp_.resize(n);
  backend_.to_host(host_tmp_.data(), x, n);
  return host_tmp_.data();
}

// Device backends queue work asynchronously: a module's time is only known once it has run.
double InferenceContext::clock() {
  backend_.sync();
  return now_ns();
}

InferenceContext::InferenceContext(const Model& model, Backend& backend, int ctx_len, int max_batch, int n_seq)
    : model_(model), backend_(backend), on_host_(backend.device() == Device::CPU) {
  const ModelConfig& c = model.config;
  const ArchInfo& a = c.info();
  ctx_len_ = ctx_len > 0 ? ctx_len : c.max_seq_len;
  ZIP_CHECK(ctx_len_ <= c.max_seq_len, "context length {} exceeds the model's maximum {}", ctx_len_, c.max_seq_len);
  // Encoders run a whole sequence in one chunk (attention is bidirectional).
  ZIP_CHECK(n_seq >= 1 && n_seq <= 4096, "n_seq {} out of range", n_seq);
  ZIP_CHECK(a.causal || n_seq == 1, "encoders run one sequence at a time");
  pos_.assign(size_t(n_seq), 0);
  max_batch_ = a.causal ? std::max(1, std::min(max_batch, ctx_len_ * n_seq)) : ctx_len_;

  tok_embd_ = weight("tok_embd");
  pos_embd_ = weight_opt("pos_embd");
  type_embd_ = weight_opt("type_embd");
  if (a.embd_norm) embd_norm_ = norm_weights("embd_norm");
  if (a.final_norm) output_norm_ = norm_weights("output_norm");
  if (a.causal) output_ = c.tied_embeddings ? tok_embd_ : weight("output");
  size_t hd = size_t(c.head_dim), max_q = 0, max_kv = 0, max_ffn = 0;
  layers_.resize(size_t(c.n_layers()));
  for (int l = 0; l < c.n_layers(); l++) {
    const LayerShape& s = c.layers[size_t(l)];
    LayerWeights& w = layers_[size_t(l)];
    auto name = [&](const char* t) { return layer_tensor(l, t); };
    w.bo = f32_opt(name("attn_output") + ".bias");
    w.b_down = f32_opt(name("ffn_down") + ".bias");
    if (a.post_norm) {
      w.attn_out_norm = norm_weights(name("attn_out_norm"));
      w.ffn_out_norm = norm_weights(name("ffn_out_norm"));
    }
    if (s.has_attention()) {
      if (!a.post_norm) w.attn_norm = norm_weights(name("attn_norm"));
      w.wq = weight(name("attn_q"));
      w.wk = weight(name("attn_k"));
      w.wv = weight(name("attn_v"));
      w.wo = weight(name("attn_output"));
      w.bq = f32_opt(name("attn_q") + ".bias");
      w.bk = f32_opt(name("attn_k") + ".bias");
      w.bv = f32_opt(name("attn_v") + ".bias");
      w.kv_of_q = s.kv_of_q();
      w.cache_floats = size_t(s.n_kv_heads()) * size_t(ctx_len_) * hd;
      w.k_cache = floats(w.cache_floats * size_t(n_seq));
      w.v_cache = floats(w.cache_floats * size_t(n_seq));
      max_q = std::max(max_q, size_t(s.n_heads()) * hd);
      max_kv = std::max(max_kv, size_t(s.n_kv_heads()) * hd);
    }
    if (s.has_ffn()) {
      if (!a.post_norm) w.ffn_norm = norm_weights(name("ffn_norm"));
      if (a.gated_ffn()) w.w_gate = weight(name("ffn_gate"));
      w.w_up = weight(name("ffn_up"));
      w.w_down = weight(name("ffn_down"));
      w.b_gate = f32_opt(name("ffn_gate") + ".bias");
      w.b_up = f32_opt(name("ffn_up") + ".bias");
      max_ffn = std::max(max_ffn, size_t(s.ffn_dim));
    }
  }
  size_t B = size_t(max_batch_), D = size_t(c.dim);
  x_ = floats(B * D);
  xn_ = floats(B * D);
  gathered_ = floats(B * D);
  q_ = floats(B * max_q);
  k_ = floats(B * std::max(max_kv, D));  // k_ doubles as scratch for position embeddings
  v_ = floats(B * max_kv);
  att_ = floats(B * max_q);
  gate_ = floats(B * max_ffn);
  up_ = floats(B * max_ffn);
  positions_.assign(B, 0);
  zeros_.assign(B, 0);
}

void InferenceContext::norm(float* y, const float* x, const Norm& nw, int n) {
  const ModelConfig& c = model_.config;
  if (c.info().rms_norm)
    backend_.rmsnorm(y, x, nw.w, n, c.dim, c.norm_eps);
  else
    backend_.layernorm(y, x, nw.w, nw.b, n, c.dim, c.norm_eps);
}

void InferenceContext::set_timing(ModuleTimes* t) {
  timing_ = t;
  if (t && int(t->attn_ns.size()) != model_.config.n_layers()) t->reset(model_.config.n_layers());
}

void InferenceContext::rewind(int p, int seq) {
  ZIP_CHECK(seq >= 0 && seq < n_seq(), "no sequence {}", seq);
  ZIP_CHECK(p >= 0 && p <= pos_[size_t(seq)], "rewind to {} outside [0, {}]", p, pos_[size_t(seq)]);
  pos_[size_t(seq)] = p;
}

void InferenceContext::copy_prefix(int from, int to, int n) {
  ZIP_CHECK(from >= 0 && from < n_seq() && to >= 0 && to < n_seq(), "copy_prefix: no sequence {} or {}", from, to);
  ZIP_CHECK(n >= 0 && n <= pos_[size_t(from)], "copy_prefix: {} positions, sequence {} has {}", n, from, pos_[size_t(from)]);
  if (from != to && n > 0)
    for (const LayerWeights& w : layers_) {
      if (!w.k_cache) continue;  // attention-free layer
      // Cache rows are [n_kv·head_dim, ctx_len]: the first n entries of each row.
      const size_t rows = w.cache_floats / size_t(ctx_len_);
      for (float* cache : {w.k_cache.get(), w.v_cache.get()})
        for (size_t r = 0; r < rows; r++)
          backend_.copy(cache + size_t(to) * w.cache_floats + r * size_t(ctx_len_),
                        cache + size_t(from) * w.cache_floats + r * size_t(ctx_len_), size_t(n));
    }
  pos_[size_t(to)] = n;
}

const float* InferenceContext::eval(const int* tokens, int n, bool all_logits) {
  ZIP_CHECK(model_.config.info().causal, "{} is an encoder: it has no next-token logits", model_.config.info().name);
  ZIP_CHECK(n > 0, "eval: no tokens");
  ZIP_CHECK(pos_[0] + n <= ctx_len_, "{} tokens at position {} exceed the context length {}", n, pos_[0], ctx_len_);
  int V = model_.config.vocab_size;
  double t0 = timing_ ? clock() : 0;
  size_t rows = all_logits ? size_t(n) : 1;
  if (logits_.size() < rows * size_t(V)) logits_.resize(rows * size_t(V));
  std::vector<int> wanted;
  for (int done = 0; done < n;) {
    int chunk = std::min(max_batch_, n - done);
    wanted.clear();
    if (all_logits)
      for (int i = 0; i < chunk; i++) wanted.push_back(i);
    else if (done + chunk == n)
      wanted.push_back(chunk - 1);
    float* out = all_logits ? logits_.data() + size_t(done) * V : logits_.data();
    eval_rows(tokens + done, zeros_.data(), chunk, wanted, out);
    done += chunk;
  }
  if (timing_) {
    timing_->total_ns += clock() - t0;
    timing_->calls++;
  }
  return logits_.data();
}

const float* InferenceContext::eval_batch(const int* tokens, const int* seqs, int n, bool all_logits) {
  ZIP_CHECK(model_.config.info().causal, "{} is an encoder: it has no next-token logits", model_.config.info().name);
  ZIP_CHECK(n > 0 && n <= max_batch_, "eval_batch: {} rows (1..{})", n, max_batch_);
  std::vector<int> wanted;
  if (all_logits) {
    for (int i = 0; i < n; i++) wanted.push_back(i);
  } else {
    std::vector<int> last(size_t(n_seq()), -1), order;
    for (int i = 0; i < n; i++) {
      ZIP_CHECK(seqs[i] >= 0 && seqs[i] < n_seq(), "eval_batch: no sequence {}", seqs[i]);
      if (last[size_t(seqs[i])] < 0) order.push_back(seqs[i]);
      last[size_t(seqs[i])] = i;
    }
    for (int sq : order) wanted.push_back(last[size_t(sq)]);
  }
  size_t need = wanted.size() * size_t(model_.config.vocab_size);
  if (logits_.size() < need) logits_.resize(need);
  double t0 = timing_ ? clock() : 0;
  eval_rows(tokens, seqs, n, wanted, logits_.data());
  if (timing_) {
    timing_->total_ns += clock() - t0;
    timing_->calls++;
  }
  return logits_.data();
}

void InferenceContext::plan_rows(const int* seqs, int n) {
  runs_.clear();
  std::vector<int> next(pos_);
  for (int i = 0; i < n; i++) {
    int sq = seqs[i];
    ZIP_CHECK(sq >= 0 && sq < n_seq(), "no sequence {}", sq);
    int p = next[size_t(sq)]++;
    ZIP_CHECK(p < ctx_len_, "sequence {} would exceed the context length {}", sq, ctx_len_);
    positions_[size_t(i)] = p;
    if (!runs_.empty() && runs_.back().seq == sq && runs_.back().pos0 + runs_.back().n == p)
      runs_.back().n++;
    else
      runs_.push_back({sq, i, 1, p});
  }
}

const float* InferenceContext::encode(const int* tokens, const int* types, int n) {
  const ModelConfig& c = model_.config;
  ZIP_CHECK(!c.info().causal, "encode: {} is a decoder", c.info().name);
  ZIP_CHECK(n > 0, "encode: no tokens");
  ZIP_CHECK(n <= ctx_len_, "a sequence of {} tokens exceeds the context length {}", n, ctx_len_);
  for (int i = 0; i < n; i++) {
    ZIP_CHECK(tokens[i] >= 0 && tokens[i] < c.vocab_size, "token id {} out of range (vocabulary {})", tokens[i],
              c.vocab_size);
    if (types) ZIP_CHECK(types[i] >= 0 && types[i] < c.n_token_types, "token type {} out of range", types[i]);
  }
  double t0 = timing_ ? clock() : 0;
  pos_[0] = 0;
  plan_rows(zeros_.data(), n);
  embed(tokens, types, n);
  run_layers(n);
  if (timing_) {
    timing_->total_ns += clock() - t0;
    timing_->calls++;
  }
  return host_view(x_.get(), size_t(n) * size_t(c.dim));
}

const float* InferenceContext::eval_from_layer(int first_layer, const float* residual, int n, bool all_logits) {
  const ModelConfig& c = model_.config;
  ZIP_CHECK(first_layer >= 0 && first_layer <= c.n_layers(), "resume: layer {} out of range (model has {})",
            first_layer, c.n_layers());
  ZIP_CHECK(n > 0 && n <= max_batch_, "resume: {} rows (1..{} allowed)", n, max_batch_);
  const bool causal = c.info().causal;
  if (!causal) pos_[0] = 0;
  ZIP_CHECK(pos_[0] + n <= ctx_len_, "{} tokens at position {} exceed the context length {}", n, pos_[0], ctx_len_);
  double t0 = timing_ ? clock() : 0;
  plan_rows(zeros_.data(), n);
  backend_.to_device(x_.get(), residual, size_t(n) * size_t(c.dim));
  run_layers(n, first_layer);
  pos_[0] += n;
  const float* out = nullptr;
  if (!causal) {
    out = host_view(x_.get(), size_t(n) * size_t(c.dim));
  } else {
    const int V = c.vocab_size;
    size_t rows = all_logits ? size_t(n) : 1;
    if (logits_.size() < rows * size_t(V)) logits_.resize(rows * size_t(V));
    std::vector<int> wanted;
    if (all_logits)
      for (int i = 0; i < n; i++) wanted.push_back(i);
    else
      wanted.push_back(n - 1);
    logits_head(wanted);
    out = logits_.data();
  }
  if (timing_) {
    timing_->total_ns += clock() - t0;
    timing_->calls++;
  }
  return out;
}

// x = token embedding (+ position embedding) (+ token-type embedding), then the embedding norm.
void InferenceContext::embed(const int* tokens, const int* types, int n) {
  const ModelConfig& c = model_.config;
  int D = c.dim;
  double t = timing_ ? clock() : 0;
  backend_.embedding(x_.get(), *tok_embd_, tokens, n);
  if (pos_embd_) {
    backend_.embedding(k_.get(), *pos_embd_, positions_.data(), n);
    backend_.add(x_.get(), k_.get(), size_t(n) * D);
  }
  if (type_embd_) {
    std::vector<int> zeros;
    if (!types) zeros.assign(size_t(n), 0), types = zeros.data();
    backend_.embedding(k_.get(), *type_embd_, types, n);
    backend_.add(x_.get(), k_.get(), size_t(n) * D);
  }
  if (embd_norm_.w) norm(x_.get(), x_.get(), embd_norm_, n);
  if (timing_) timing_->head_ns += clock() - t;
}

void InferenceContext::run_layers(int n, int first_layer) {
  const ModelConfig& c = model_.config;
  const bool post = c.info().post_norm;
  int D = c.dim;
  for (int l = first_layer; l < c.n_layers(); l++) {
    if (observer_) observer_->on_residual(l, host_view(x_.get(), size_t(n) * D), n, D);
    const LayerShape& s = c.layers[size_t(l)];
    LayerWeights& w = layers_[size_t(l)];
    // A removed module may still leave work: its output bias, and the post-norm after it.
    if (s.has_attention() || w.bo || post) {
      double t = timing_ ? clock() : 0;
      if (s.has_attention())
        attention_block(l, n);
      else if (w.bo)
        backend_.add_rows(x_.get(), w.bo, n, D);
      if (post) norm(x_.get(), x_.get(), w.attn_out_norm, n);
      if (timing_) timing_->attn_ns[size_t(l)] += clock() - t;
    }
    if (s.has_ffn() || w.b_down || post) {
      double t = timing_ ? clock() : 0;
      if (s.has_ffn())
        ffn_block(l, n);
      else if (w.b_down)
        backend_.add_rows(x_.get(), w.b_down, n, D);
      if (post) norm(x_.get(), x_.get(), w.ffn_out_norm, n);
      if (timing_) timing_->ffn_ns[size_t(l)] += clock() - t;
    }
  }
  if (observer_) observer_->on_residual(c.n_layers(), host_view(x_.get(), size_t(n) * D), n, D);
}

void InferenceContext::eval_rows(const int* tokens, const int* seqs, int n, const std::vector<int>& logit_rows,
                                 float* out) {
  const int V = model_.config.vocab_size;
  for (int i = 0; i < n; i++)
    ZIP_CHECK(tokens[i] >= 0 && tokens[i] < V, "token id {} out of range (vocabulary {})", tokens[i], V);
  plan_rows(seqs, n);
  embed(tokens, nullptr, n);
  run_layers(n);
  for (auto& r : runs_) pos_[size_t(r.seq)] = r.pos0 + r.n;
  if (!logit_rows.empty()) logits_head(logit_rows, out);
}

void InferenceContext::logits_head(const std::vector<int>& logit_rows, float* out) {
  if (!out) out = logits_.data();
  const int V = model_.config.vocab_size, D = model_.config.dim;
  double t = timing_ ? clock() : 0;
  // Only the rows whose logits are wanted go through the final norm and the LM head.
  int rows = int(logit_rows.size());
  for (int i = 0; i < rows; i++)
    backend_.copy(gathered_.get() + size_t(i) * D, x_.get() + size_t(logit_rows[size_t(i)]) * D, size_t(D));
  norm(xn_.get(), gathered_.get(), output_norm_, rows);
  if (observer_) observer_->on_linear_input(-1, LinearKind::Output, host_view(xn_.get(), size_t(rows) * D), rows, D);
  // Host backends write the logits in place; device backends compute them on the device first.
  float* dst = on_host_ ? out : device_logits(size_t(rows) * V);
  backend_.matmul(dst, xn_.get(), *output_, nullptr, rows);
  if (!on_host_) backend_.to_host(out, dst, size_t(rows) * V);
  if (timing_) timing_->head_ns += clock() - t;
}

void InferenceContext::attention_block(int l, int n) {
  const ModelConfig& c = model_.config;
  const ArchInfo& arch = c.info();
  const LayerShape& s = c.layers[size_t(l)];
  LayerWeights& w = layers_[size_t(l)];
  int D = c.dim, hd = c.head_dim, nq = s.n_heads(), nkv = s.n_kv_heads();
  // Pre-norm blocks normalise the branch input; post-norm blocks feed the stream itself.
  const float* in = x_.get();
  if (!arch.post_norm) {
    norm(xn_.get(), x_.get(), w.attn_norm, n);
    in = xn_.get();
  }
  if (observer_) observer_->on_linear_input(l, LinearKind::Q, host_view(in, size_t(n) * D), n, D);
  backend_.matmul(q_.get(), in, *w.wq, w.bq, n);
  backend_.matmul(k_.get(), in, *w.wk, w.bk, n);
  backend_.matmul(v_.get(), in, *w.wv, w.bv, n);
  if (arch.rope) {
    backend_.rope(q_.get(), n, nq, hd, positions_.data(), c.rope_theta);
    backend_.rope(k_.get(), n, nkv, hd, positions_.data(), c.rope_theta);
  }
  // Each run of rows belongs to one sequence: store its K/V in that sequence's cache, attend.
  size_t qw = size_t(nq) * hd, kw = size_t(nkv) * hd;
  for (const Run& r : runs_) {
    float* kc = w.k_cache.get() + size_t(r.seq) * w.cache_floats;
    float* vc = w.v_cache.get() + size_t(r.seq) * w.cache_floats;
    backend_.kv_store(kc, k_.get() + size_t(r.row0) * kw, r.n, nkv, hd, r.pos0, ctx_len_);
    backend_.kv_store(vc, v_.get() + size_t(r.row0) * kw, r.n, nkv, hd, r.pos0, ctx_len_);
    AttentionArgs a;
    a.n_tokens = r.n;
    a.pos0 = r.pos0;
    a.n_heads = nq;
    a.head_dim = hd;
    a.kv_of_q = w.kv_of_q.data();
    a.cache_len = ctx_len_;
    a.scale = 1.0f / std::sqrt(float(hd));
    a.causal = arch.causal;
    backend_.attention(att_.get() + size_t(r.row0) * qw, q_.get() + size_t(r.row0) * qw, kc, vc, a);
  }
  if (observer_) observer_->on_linear_input(l, LinearKind::O, host_view(att_.get(), size_t(n) * qw), n, nq * hd);
  backend_.matmul(xn_.get(), att_.get(), *w.wo, w.bo, n);
  backend_.add(x_.get(), xn_.get(), size_t(n) * D);
}

void InferenceContext::ffn_block(int l, int n) {
  const ModelConfig& c = model_.config;
  const ArchInfo& arch = c.info();
  const LayerShape& s = c.layers[size_t(l)];
  LayerWeights& w = layers_[size_t(l)];
  int D = c.dim, F = s.ffn_dim;
  const float* in = x_.get();
  if (!arch.post_norm) {
    norm(xn_.get(), x_.get(), w.ffn_norm, n);
    in = xn_.get();
  }
  size_t nf = size_t(n) * F;
  if (arch.gated_ffn()) {
    if (observer_) observer_->on_linear_input(l, LinearKind::Gate, host_view(in, size_t(n) * D), n, D);
    backend_.matmul(gate_.get(), in, *w.w_gate, w.b_gate, n);
    backend_.matmul(up_.get(), in, *w.w_up, w.b_up, n);
    backend_.swiglu(gate_.get(), gate_.get(), up_.get(), nf);
  } else {
    if (observer_) observer_->on_linear_input(l, LinearKind::Up, host_view(in, size_t(n) * D), n, D);
    backend_.matmul(up_.get(), in, *w.w_up, w.b_up, n);
    backend_.gelu(gate_.get(), up_.get(), nf, arch.act == Activation::GeluErf ? GeluKind::Erf : GeluKind::Tanh);
  }
  if (observer_) observer_->on_linear_input(l, LinearKind::Down, host_view(gate_.get(), nf), n, F);
  backend_.matmul(xn_.get(), gate_.get(), *w.w_down, w.b_down, n);
  backend_.add(x_.get(), xn_.get(), size_t(n) * D);
}

}  // namespace zip

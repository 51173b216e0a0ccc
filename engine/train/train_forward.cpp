// TrainModelT's forward and backward passes: the inference forward's function (engine/forward.cpp)
// written over TrainOps, each block's backward mirroring its forward line by line in reverse.
// The running residual gradient lives in dcur_; backward ops accumulate into it, which is how
// a residual add's two branches sum.
#include <algorithm>
#include <cmath>
#include <utility>

#include "engine/error.h"
#include "engine/train/train_model.h"

namespace zip::train {

template <typename T>
void TrainModelT<T>::upload_batch(const Batch& b) {
  const ModelConfig& c = config_;
  const ArchInfo& a = c.info();
  ZIP_CHECK(b.B >= 1 && b.B <= opt_.max_B, "training batch: {} sequences outside 1..{}", b.B, opt_.max_B);
  ZIP_CHECK(b.T >= 1 && b.T <= opt_.max_T, "training batch: {} tokens per sequence outside 1..{}", b.T, opt_.max_T);
  ZIP_CHECK(b.tokens, "training batch: no tokens");
  ZIP_CHECK(!b.targets || a.causal, "training batch: next-token targets need a decoder");
  ZIP_CHECK(!b.labels || !c.labels.empty(), "training batch: labels need a model with a classifier");
  B_ = b.B, T_ = b.T;
  size_t M = size_t(B_) * size_t(T_);
  std::vector<int> lengths(size_t(B_), T_), positions(M), targets(M, -1), types(M, 0);
  for (int s = 0; s < B_; s++) {
    if (b.lengths) {
      ZIP_CHECK(b.lengths[s] >= 1 && b.lengths[s] <= T_, "training batch: sequence {} has length {} outside 1..{}",
                s, b.lengths[s], T_);
      lengths[size_t(s)] = b.lengths[s];
    }
    if (b.labels)
      ZIP_CHECK(b.labels[s] >= 0 && b.labels[s] < int(c.labels.size()), "training batch: label {} out of range",
                b.labels[s]);
  }
  n_targets_ = 0;
  for (size_t m = 0; m < M; m++) {
    int t = int(m % size_t(T_));
    positions[m] = t;
    ZIP_CHECK(b.tokens[m] >= 0 && b.tokens[m] < c.vocab_size, "token id {} out of range (vocabulary {})", b.tokens[m],
              c.vocab_size);
    if (b.types) {
      ZIP_CHECK(b.types[m] >= 0 && b.types[m] < std::max(c.n_token_types, 1), "token type {} out of range",
                b.types[m]);
      types[m] = b.types[m];
    }
    // Padding rows never count towards the loss.
    if (b.targets && b.targets[m] >= 0 && t < lengths[m / size_t(T_)]) {
      ZIP_CHECK(b.targets[m] < c.vocab_size, "target id {} out of range (vocabulary {})", b.targets[m], c.vocab_size);
      targets[m] = b.targets[m];
      n_targets_++;
    }
  }
  ops_.to_device(tokens_, b.tokens, M * sizeof(int));
  ops_.to_device(targets_, targets.data(), M * sizeof(int));
  ops_.to_device(types_, types.data(), M * sizeof(int));
  ops_.to_device(positions_, positions.data(), M * sizeof(int));
  ops_.to_device(lengths_, lengths.data(), size_t(B_) * sizeof(int));
  has_labels_ = b.labels != nullptr;
  if (b.labels) ops_.to_device(labels_, b.labels, size_t(B_) * sizeof(int));
}

template <typename T>
AttnDims TrainModelT<T>::attn_dims(int l) const {
  const LayerShape& s = config_.layers[size_t(l)];
  AttnDims d;
  d.B = B_, d.T = T_;
  d.n_heads = s.n_heads(), d.n_kv = s.n_kv_heads(), d.head_dim = config_.head_dim;
  d.kv_of_q = kv_of_q_host_.data() + kv_of_q_at_[size_t(l)];
  d.lengths = lengths_;
  d.causal = config_.info().causal;
  d.scale = 1.0f / std::sqrt(float(config_.head_dim));  // as the inference forward
  return d;
}

template <typename T>
void TrainModelT<T>::norm_fwd(T* y, T* mean, T* rstd, const T* x, const Norm& n, int M) {
  if (config_.info().rms_norm)
    ops_.rmsnorm_fwd(y, rstd, x, w(n.w), M, config_.dim, config_.norm_eps);
  else
    ops_.layernorm_fwd(y, mean, rstd, x, w(n.w), w(n.b), M, config_.dim, config_.norm_eps);
}

template <typename T>
void TrainModelT<T>::norm_bwd(T* dx, const T* dy, const T* x, const T* mean, const T* rstd, const Norm& n, int M) {
  if (config_.info().rms_norm)
    ops_.rmsnorm_bwd(dx, gw(n.w), dy, x, w(n.w), rstd, M, config_.dim);
  else
    ops_.layernorm_bwd(dx, gw(n.w), gw(n.b), dy, x, w(n.w), mean, rstd, M, config_.dim);
}

template <typename T>
void TrainModelT<T>::block_fwd(int l, Acts& a, const T* x_in, T* x_out) {
  const ModelConfig& c = config_;
  const ArchInfo& arch = c.info();
  const LayerShape& s = c.layers[size_t(l)];
  const LayerRefs& L = layers_[size_t(l)];
  const bool post = arch.post_norm;
  const int M = rows(), D = c.dim, hd = c.head_dim, nq = s.n_heads(), nkv = s.n_kv_heads(), F = s.ffn_dim;
  const size_t MD = size_t(M) * size_t(D);

  // Attention: sa = x_in + attn(in) (+ the output bias, which a removed module keeps).
  T* sa = post ? a.s1 : a.mid;
  if (s.has_attention()) {
    const T* in = x_in;
    if (!post) {
      norm_fwd(a.ln1, a.ln1_mean, a.ln1_rstd, x_in, L.attn_norm, M);
      in = a.ln1;
    }
    ops_.linear_fwd(a.q, in, w(L.wq), w(L.bq), M, D, nq * hd);
    ops_.linear_fwd(a.k, in, w(L.wk), w(L.bk), M, D, nkv * hd);
    ops_.linear_fwd(a.v, in, w(L.wv), w(L.bv), M, D, nkv * hd);
    if (arch.rope) {
      ops_.rope_fwd(a.q, positions_, M, nq, hd, c.rope_theta);
      ops_.rope_fwd(a.k, positions_, M, nkv, hd, c.rope_theta);
    }
    ops_.attention_fwd(a.att, a.lse, a.q, a.k, a.v, attn_dims(l));
    ops_.linear_fwd(sa, a.att, w(L.wo), w(L.bo), M, nq * hd, D);
    ops_.accumulate(sa, x_in, MD);
  } else {
    ops_.copy(sa, x_in, MD);
    if (L.bo.ok()) ops_.bias_fwd(sa, w(L.bo), M, D);
  }
  if (post) norm_fwd(a.mid, a.s1_mean, a.s1_rstd, a.s1, L.attn_out_norm, M);

  // FFN: sf = mid + ffn(in) (+ the down bias).
  T* sf = post ? a.s2 : x_out;
  if (s.has_ffn()) {
    const T* in = a.mid;
    if (!post) {
      norm_fwd(a.ln2, a.ln2_mean, a.ln2_rstd, a.mid, L.ffn_norm, M);
      in = a.ln2;
    }
    size_t MF = size_t(M) * size_t(F);
    ops_.linear_fwd(a.up, in, w(L.wu), w(L.bu), M, D, F);
    if (arch.gated_ffn()) {
      ops_.linear_fwd(a.gate, in, w(L.wg), w(L.bg), M, D, F);
      ops_.swiglu_fwd(a.h, a.gate, a.up, MF);
    } else {
      ops_.gelu_fwd(a.h, a.up, MF, gelu_kind());
    }
    ops_.linear_fwd(sf, a.h, w(L.wd), w(L.bd), M, F, D);
    ops_.accumulate(sf, a.mid, MD);
  } else {
    ops_.copy(sf, a.mid, MD);
    if (L.bd.ok()) ops_.bias_fwd(sf, w(L.bd), M, D);
  }
  if (post) norm_fwd(x_out, a.s2_mean, a.s2_rstd, a.s2, L.ffn_out_norm, M);
}

template <typename T>
void TrainModelT<T>::block_bwd(int l, Acts& a, const T* x_in) {
  // On entry dcur_ = d x_out; on exit dcur_ = d x_in.
  const ModelConfig& c = config_;
  const ArchInfo& arch = c.info();
  const LayerShape& s = c.layers[size_t(l)];
  const LayerRefs& L = layers_[size_t(l)];
  const bool post = arch.post_norm;
  const int M = rows(), D = c.dim, hd = c.head_dim, nq = s.n_heads(), nkv = s.n_kv_heads(), F = s.ffn_dim;
  const size_t MD = size_t(M) * size_t(D);

  // FFN.
  if (post) {  // x_out = norm(s2)
    ops_.zero(dtmp_, MD * sizeof(T));
    norm_bwd(dtmp_, dcur_, a.s2, a.s2_mean, a.s2_rstd, L.ffn_out_norm, M);
    std::swap(dcur_, dtmp_);
  }
  if (s.has_ffn()) {
    size_t MF = size_t(M) * size_t(F);
    ops_.zero(dh_, MF * sizeof(T));
    ops_.linear_bwd(dh_, gw(L.wd), gw(L.bd), dcur_, a.h, w(L.wd), M, F, D);
    const T* in = post ? a.mid : a.ln2;
    T* din = post ? dcur_ : dln_;  // post-norm: the FFN reads mid itself
    if (!post) ops_.zero(dln_, MD * sizeof(T));
    ops_.zero(dup_, MF * sizeof(T));
    if (arch.gated_ffn()) {
      ops_.zero(dgate_, MF * sizeof(T));
      ops_.swiglu_bwd(dgate_, dup_, dh_, a.gate, a.up, MF);
      ops_.linear_bwd(din, gw(L.wg), gw(L.bg), dgate_, in, w(L.wg), M, D, F);
    } else {
      ops_.gelu_bwd(dup_, dh_, a.up, MF, gelu_kind());
    }
    ops_.linear_bwd(din, gw(L.wu), gw(L.bu), dup_, in, w(L.wu), M, D, F);
    if (!post) norm_bwd(dcur_, dln_, a.mid, a.ln2_mean, a.ln2_rstd, L.ffn_norm, M);
  } else if (L.bd.ok()) {
    ops_.bias_bwd(gw(L.bd), dcur_, M, D);
  }

  // Attention; dcur_ = d mid.
  if (post) {  // mid = norm(s1)
    ops_.zero(dtmp_, MD * sizeof(T));
    norm_bwd(dtmp_, dcur_, a.s1, a.s1_mean, a.s1_rstd, L.attn_out_norm, M);
    std::swap(dcur_, dtmp_);
  }
  if (s.has_attention()) {
    size_t MQ = size_t(M) * size_t(nq) * size_t(hd), MK = size_t(M) * size_t(nkv) * size_t(hd);
    ops_.zero(datt_, MQ * sizeof(T));
    ops_.linear_bwd(datt_, gw(L.wo), gw(L.bo), dcur_, a.att, w(L.wo), M, nq * hd, D);
    ops_.zero(dq_, MQ * sizeof(T));
    ops_.zero(dk_, MK * sizeof(T));
    ops_.zero(dv_, MK * sizeof(T));
    ops_.attention_bwd(dq_, dk_, dv_, datt_, a.q, a.k, a.v, a.att, a.lse, attn_dims(l));
    if (arch.rope) {
      ops_.rope_bwd(dq_, positions_, M, nq, hd, c.rope_theta);
      ops_.rope_bwd(dk_, positions_, M, nkv, hd, c.rope_theta);
    }
    const T* in = post ? x_in : a.ln1;
    T* din = post ? dcur_ : dln_;
    if (!post) ops_.zero(dln_, MD * sizeof(T));
    ops_.linear_bwd(din, gw(L.wq), gw(L.bq), dq_, in, w(L.wq), M, D, nq * hd);
    ops_.linear_bwd(din, gw(L.wk), gw(L.bk), dk_, in, w(L.wk), M, D, nkv * hd);
    ops_.linear_bwd(din, gw(L.wv), gw(L.bv), dv_, in, w(L.wv), M, D, nkv * hd);
    if (!post) norm_bwd(dcur_, dln_, x_in, a.ln1_mean, a.ln1_rstd, L.attn_norm, M);
  } else if (L.bo.ok()) {
    ops_.bias_bwd(gw(L.bo), dcur_, M, D);
  }
}

template <typename T>
double TrainModelT<T>::forward(const Batch& batch) {
  upload_batch(batch);
  const ModelConfig& c = config_;
  const ArchInfo& a = c.info();
  const int M = rows(), D = c.dim, L = c.n_layers();
  const size_t MD = size_t(M) * size_t(D);

  // Embeddings: token (+ position) (+ token type), then the embedding norm.
  T* x0 = a.embd_norm ? emb_ : res_[0];
  ops_.embedding_fwd(x0, param("tok_embd"), tokens_, M, D, false);
  if (!a.rope) ops_.embedding_fwd(x0, param("pos_embd"), positions_, M, D, true);
  if (a.token_types) ops_.embedding_fwd(x0, param("type_embd"), types_, M, D, true);
  if (a.embd_norm) ops_.layernorm_fwd(res_[0], emb_mean_, emb_rstd_, emb_, param("embd_norm"),
                                      param("embd_norm.bias"), M, D, c.norm_eps);

  for (int l = 0; l < L; l++) block_fwd(l, acts(l), res_[size_t(l)], res_[size_t(l) + 1]);

  // Fresh seeds for external losses.
  for (T* s : dres_seed_)
    if (s) ops_.zero(s, MD * sizeof(T));
  double loss = 0;
  if (a.causal) {
    int V = c.vocab_size;
    if (dxf_) ops_.zero(dxf_, MD * sizeof(T));
    if (dlogits_) ops_.zero(dlogits_, size_t(M) * size_t(V) * sizeof(T));
    if (xf_) norm_fwd(xf_, xf_mean_, xf_rstd_, res_[size_t(L)], final_norm_, M);
    if (logits_) ops_.linear_fwd(logits_, hidden(), w(lm_head_), nullptr, M, D, V);
    if (logits_ && batch.targets && n_targets_ > 0) {
      ops_.cross_entropy_fwd(row_loss_, logits_, targets_, M, V);
      loss = ops_.sum(row_loss_, size_t(M)) / n_targets_;
    }
  } else if (c.pooler) {
    // pooled = tanh(W·h[CLS] + b) on each sequence's first token; logits = classifier(pooled).
    for (int s = 0; s < B_; s++) ops_.copy(cls_in_ + size_t(s) * D, res_[size_t(L)] + size_t(s) * T_ * D, size_t(D));
    ops_.linear_fwd(pool_pre_, cls_in_, param("pooler"), param("pooler.bias"), B_, D, D);
    ops_.tanh_fwd(pooled_, pool_pre_, size_t(B_) * D);
    int nl = int(c.labels.size());
    if (nl) {
      ops_.zero(dcls_logits_, size_t(B_) * nl * sizeof(T));
      ops_.linear_fwd(cls_logits_, pooled_, param("classifier"), param("classifier.bias"), B_, D, nl);
      if (has_labels_) {
        ops_.cross_entropy_fwd(row_loss_, cls_logits_, labels_, B_, nl);
        loss = ops_.sum(row_loss_, size_t(B_)) / B_;
      }
    }
  }
  return loss;
}

template <typename T>
void TrainModelT<T>::backward(double loss_scale) {
  ZIP_CHECK(B_ > 0, "backward without a forward");
  ZIP_CHECK(!opt_.forward_only, "backward: the model runs forward only");
  const ModelConfig& c = config_;
  const ArchInfo& a = c.info();
  const int M = rows(), D = c.dim, L = c.n_layers();
  const size_t MD = size_t(M) * size_t(D);
  ops_.zero(dcur_, MD * sizeof(T));

  if (a.causal) {
    int V = c.vocab_size;
    if (opt_.lm_head) {
      if (n_targets_ > 0) ops_.cross_entropy_bwd(dlogits_, logits_, targets_, M, V, loss_scale / n_targets_);
      // A tied head accumulates into tok_embd's gradient, beside the embedding's own.
      ops_.linear_bwd(dxf_, gw(lm_head_), nullptr, dlogits_, hidden(), w(lm_head_), M, D, V);
    }
    if (xf_)
      norm_bwd(dcur_, dxf_, res_[size_t(L)], xf_mean_, xf_rstd_, final_norm_, M);
    else
      ops_.accumulate(dcur_, dxf_, MD);
  } else if (c.pooler && !c.labels.empty()) {
    int nl = int(c.labels.size());
    if (has_labels_) ops_.cross_entropy_bwd(dcls_logits_, cls_logits_, labels_, B_, nl, loss_scale / B_);
    size_t BD = size_t(B_) * size_t(D);
    ops_.zero(dpool_, BD * sizeof(T));
    ops_.linear_bwd(dpool_, grad("classifier"), grad("classifier.bias"), dcls_logits_, pooled_, param("classifier"),
                    B_, D, nl);
    ops_.zero(dtmp_, BD * sizeof(T));  // d(pre-activation)
    ops_.tanh_bwd(dtmp_, dpool_, pooled_, BD);
    ops_.zero(dcls_in_, BD * sizeof(T));
    ops_.linear_bwd(dcls_in_, grad("pooler"), grad("pooler.bias"), dtmp_, cls_in_, param("pooler"), B_, D, D);
    for (int s = 0; s < B_; s++) ops_.accumulate(dcur_ + size_t(s) * T_ * D, dcls_in_ + size_t(s) * D, size_t(D));
  }
  if (dres_seed_[size_t(L)]) ops_.accumulate(dcur_, dres_seed_[size_t(L)], MD);

  for (int l = L - 1; l >= 0; l--) {
    // Recomputation re-runs the block from its saved input (deterministic: same values).
    if (opt_.recompute) block_fwd(l, acts(l), res_[size_t(l)], res_[size_t(l) + 1]);
    block_bwd(l, acts(l), res_[size_t(l)]);
    if (dres_seed_[size_t(l)]) ops_.accumulate(dcur_, dres_seed_[size_t(l)], MD);
  }

  if (a.embd_norm) {
    ops_.zero(dtmp_, MD * sizeof(T));
    ops_.layernorm_bwd(dtmp_, grad("embd_norm"), grad("embd_norm.bias"), dcur_, emb_, param("embd_norm"), emb_mean_,
                       emb_rstd_, M, D);
    std::swap(dcur_, dtmp_);
  }
  ops_.embedding_bwd(grad("tok_embd"), dcur_, tokens_, M, D);
  if (!a.rope) ops_.embedding_bwd(grad("pos_embd"), dcur_, positions_, M, D);
  if (a.token_types) ops_.embedding_bwd(grad("type_embd"), dcur_, types_, M, D);
}

// The rest of the class is instantiated in train_model.cpp.
template double TrainModelT<float>::forward(const Batch&);
template double TrainModelT<double>::forward(const Batch&);
template void TrainModelT<float>::backward(double);
template void TrainModelT<double>::backward(double);

}  // namespace zip::train

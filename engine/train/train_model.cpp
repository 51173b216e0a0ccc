// TrainModelT: parameters (one flat buffer in expected_tensors() order), their import from and
// export to a Model, and the allocation of activations and scratch. The passes themselves are in
// train_forward.cpp.
#include "engine/train/train_model.h"

#include <algorithm>

#include "engine/error.h"

namespace zip::train {

namespace {
bool is_embedding_name(const std::string& n) { return n == "tok_embd" || n == "pos_embd" || n == "type_embd"; }
}  // namespace

template <typename T>
T* TrainModelT<T>::w(const Ref& r) const {
  return r.ok() ? p_ + r.off : nullptr;
}
template <typename T>
T* TrainModelT<T>::gw(const Ref& r) const {
  return r.ok() ? g_ + r.off : nullptr;
}

template <typename T>
T* TrainModelT<T>::buf(size_t n) {
  void* p = ops_.alloc(std::max<size_t>(n, 1) * sizeof(T));
  owned_.push_back(p);
  return static_cast<T*>(p);
}

template <typename T>
const ParamInfo& TrainModelT<T>::info(const std::string& name) const {
  auto it = index_.find(name);
  ZIP_CHECK(it != index_.end(), "training model has no parameter '{}'", name);
  return params_[it->second];
}

template <typename T>
TrainModelT<T>::TrainModelT(const Model& model, TrainOpsT<T>& ops, const TrainOptions& opt)
    : ops_(ops), opt_(opt), config_(model.config), tokenizer_(model.tokenizer), provenance_(model.provenance) {
  model.validate();
  const ModelConfig& c = config_;
  const ArchInfo& a = c.info();
  if (opt_.max_T <= 0) opt_.max_T = c.max_seq_len;
  ZIP_CHECK(opt_.max_B >= 1, "training: batch size must be at least 1");
  ZIP_CHECK(opt_.max_T >= 1 && opt_.max_T <= c.max_seq_len, "training: sequence length {} outside 1..{}", opt_.max_T,
            c.max_seq_len);

  // Parameters.
  for (auto& spec : expected_tensors(c)) {
    ParamInfo p;
    p.name = spec.name;
    p.shape = spec.shape;
    p.offset = n_params_;
    p.numel = size_t(shape_numel(spec.shape));
    p.embedding = is_embedding_name(spec.name);
    index_[p.name] = params_.size();
    n_params_ += p.numel;
    params_.push_back(std::move(p));
  }
  p_ = buf(n_params_);
  if (!opt_.forward_only) g_ = buf(n_params_);
  load(model);
  auto ref = [&](const std::string& name) {
    Ref r;
    auto it = index_.find(name);
    if (it != index_.end()) r.off = params_[it->second].offset;
    return r;
  };
  auto norm = [&](const std::string& name) { return Norm{ref(name), ref(name + ".bias")}; };
  final_norm_ = norm("output_norm");
  if (a.causal) lm_head_ = ref(c.tied_embeddings ? "tok_embd" : "output");
  layers_.resize(size_t(c.n_layers()));
  for (int l = 0; l < c.n_layers(); l++) {
    LayerRefs& L = layers_[size_t(l)];
    auto n = [&](const char* t) { return layer_tensor(l, t); };
    L.wq = ref(n("attn_q")), L.wk = ref(n("attn_k")), L.wv = ref(n("attn_v")), L.wo = ref(n("attn_output"));
    L.bq = ref(n("attn_q") + ".bias"), L.bk = ref(n("attn_k") + ".bias"), L.bv = ref(n("attn_v") + ".bias");
    L.bo = ref(n("attn_output") + ".bias");
    L.wg = ref(n("ffn_gate")), L.wu = ref(n("ffn_up")), L.wd = ref(n("ffn_down"));
    L.bg = ref(n("ffn_gate") + ".bias"), L.bu = ref(n("ffn_up") + ".bias"), L.bd = ref(n("ffn_down") + ".bias");
    L.attn_norm = norm(n("attn_norm")), L.ffn_norm = norm(n("ffn_norm"));
    L.attn_out_norm = norm(n("attn_out_norm")), L.ffn_out_norm = norm(n("ffn_out_norm"));
    kv_of_q_at_.push_back(kv_of_q_host_.size());
    auto kv = c.layers[size_t(l)].kv_of_q();
    kv_of_q_host_.insert(kv_of_q_host_.end(), kv.begin(), kv.end());
  }

  // Activations.
  size_t M = size_t(opt_.max_B) * size_t(opt_.max_T), D = size_t(c.dim);
  int Lc = c.n_layers();
  if (shared_acts()) {
    acts_.resize(1);
    if (Lc > 0) alloc_acts(acts_[0], 0, Lc - 1);
  } else {
    acts_.resize(size_t(Lc));
    for (int l = 0; l < Lc; l++) alloc_acts(acts_[size_t(l)], l, l);
  }
  res_.resize(size_t(Lc) + 1);
  for (auto& r : res_) r = buf(M * D);
  dres_seed_.assign(size_t(Lc) + 1, nullptr);
  if (a.embd_norm) emb_ = buf(M * D), emb_mean_ = buf(M), emb_rstd_ = buf(M);
  if (a.causal) {
    size_t V = size_t(c.vocab_size);
    if (a.final_norm) xf_ = buf(M * D), xf_mean_ = buf(M), xf_rstd_ = buf(M);
    if (!opt_.forward_only) dxf_ = buf(M * D);
    if (opt_.lm_head) {
      logits_ = buf(M * V);
      if (!opt_.forward_only) dlogits_ = buf(M * V);
    }
  }
  row_loss_ = buf(M);
  if (c.pooler) {
    size_t B = size_t(opt_.max_B), nl = std::max<size_t>(c.labels.size(), 1);
    cls_in_ = buf(B * D), pool_pre_ = buf(B * D), pooled_ = buf(B * D);
    cls_logits_ = buf(B * nl), dcls_logits_ = buf(B * nl);
    dpool_ = buf(B * D), dcls_in_ = buf(B * D);
  }
  // Batch and backward scratch.
  tokens_ = static_cast<int*>(ops_.alloc(M * sizeof(int)));
  targets_ = static_cast<int*>(ops_.alloc(M * sizeof(int)));
  types_ = static_cast<int*>(ops_.alloc(M * sizeof(int)));
  positions_ = static_cast<int*>(ops_.alloc(M * sizeof(int)));
  lengths_ = static_cast<int*>(ops_.alloc(size_t(opt_.max_B) * sizeof(int)));
  labels_ = static_cast<int*>(ops_.alloc(size_t(opt_.max_B) * sizeof(int)));
  for (void* p : {(void*)tokens_, (void*)targets_, (void*)types_, (void*)positions_, (void*)lengths_, (void*)labels_})
    owned_.push_back(p);
  if (opt_.forward_only) return;
  size_t max_q = 0, max_kv = 0, max_f = 0;
  for (auto& s : c.layers) {
    max_q = std::max(max_q, size_t(s.n_heads()) * size_t(c.head_dim));
    max_kv = std::max(max_kv, size_t(s.n_kv_heads()) * size_t(c.head_dim));
    max_f = std::max(max_f, size_t(s.ffn_dim));
  }
  dcur_ = buf(M * D), dtmp_ = buf(M * D), dln_ = buf(M * D);
  dq_ = buf(M * max_q), datt_ = buf(M * max_q), dk_ = buf(M * max_kv), dv_ = buf(M * max_kv);
  dh_ = buf(M * max_f), dgate_ = buf(M * max_f), dup_ = buf(M * max_f);
}

template <typename T>
TrainModelT<T>::~TrainModelT() {
  for (void* p : owned_) ops_.release(p);
}

template <typename T>
void TrainModelT<T>::alloc_acts(Acts& a, int l0, int l1) {
  const ModelConfig& c = config_;
  const ArchInfo& arch = c.info();
  size_t M = size_t(opt_.max_B) * size_t(opt_.max_T), D = size_t(c.dim), hd = size_t(c.head_dim);
  size_t nq = 0, nkv = 0, F = 0;
  for (int l = l0; l <= l1; l++) {
    const LayerShape& s = c.layers[size_t(l)];
    nq = std::max(nq, size_t(s.n_heads()));
    nkv = std::max(nkv, size_t(s.n_kv_heads()));
    F = std::max(F, size_t(s.ffn_dim));
  }
  if (nq) {
    if (!arch.post_norm) a.ln1 = buf(M * D), a.ln1_mean = buf(M), a.ln1_rstd = buf(M);
    a.q = buf(M * nq * hd), a.att = buf(M * nq * hd), a.lse = buf(M * nq);
    a.k = buf(M * nkv * hd), a.v = buf(M * nkv * hd);
  }
  a.mid = buf(M * D);
  if (arch.post_norm) {
    a.s1 = buf(M * D), a.s1_mean = buf(M), a.s1_rstd = buf(M);
    a.s2 = buf(M * D), a.s2_mean = buf(M), a.s2_rstd = buf(M);
  }
  if (F) {
    if (!arch.post_norm) a.ln2 = buf(M * D), a.ln2_mean = buf(M), a.ln2_rstd = buf(M);
    if (arch.gated_ffn()) a.gate = buf(M * F);
    a.up = buf(M * F), a.h = buf(M * F);
  }
}

template <typename T>
void TrainModelT<T>::load(const Model& model) {
  ZIP_CHECK(model.config == config_, "training: the model's config differs from the one being trained");
  std::vector<T> host;
  for (auto& p : params_) {
    std::vector<float> f = model.get(p.name).to_floats();
    ZIP_CHECK(f.size() == p.numel, "tensor '{}' has {} values, expected {}", p.name, f.size(), p.numel);
    host.assign(f.begin(), f.end());
    ops_.to_device(p_ + p.offset, host.data(), p.numel * sizeof(T));
  }
}

template <typename T>
Model TrainModelT<T>::to_model() const {
  Model m;
  m.config = config_;
  m.tokenizer = tokenizer_;
  m.provenance = provenance_;
  std::vector<T> host;
  for (auto& p : params_) {
    host.resize(p.numel);
    ops_.to_host(host.data(), p_ + p.offset, p.numel * sizeof(T));
    m.tensors[p.name] = Tensor::from_floats(std::vector<float>(host.begin(), host.end()), p.shape);
  }
  return m;
}

template <typename T>
void TrainModelT<T>::zero_grad() {
  if (g_) ops_.zero(g_, n_params_ * sizeof(T));
}

template <typename T>
T* TrainModelT<T>::residual(int l) {
  ZIP_CHECK(l >= 0 && l <= config_.n_layers(), "residual: layer {} out of range", l);
  return res_[size_t(l)];
}

template <typename T>
T* TrainModelT<T>::residual_grad(int l) {
  ZIP_CHECK(l >= 0 && l <= config_.n_layers(), "residual_grad: layer {} out of range", l);
  ZIP_CHECK(!opt_.forward_only, "residual_grad: the model runs forward only");
  T*& s = dres_seed_[size_t(l)];
  if (!s) s = buf(size_t(opt_.max_B) * size_t(opt_.max_T) * size_t(config_.dim));
  return s;
}

template <typename T>
T* TrainModelT<T>::hidden() {
  if (!config_.info().causal) return res_.back();
  return xf_ ? xf_ : res_.back();
}

template <typename T>
T* TrainModelT<T>::hidden_grad() {
  ZIP_CHECK(!opt_.forward_only, "hidden_grad: the model runs forward only");
  return config_.info().causal ? dxf_ : residual_grad(config_.n_layers());
}

template class TrainModelT<float>;
template class TrainModelT<double>;

}  // namespace zip::train

// The Minitron pruning axes: hidden-size slicing (compress/slice_axes.h) against the unpruned
// model with the dropped channels zeroed — exact when the norms normalise over the kept channels
// only (a test backend does that, for RMSNorm and LayerNorm; for RMSNorm the stock engine does it
// too once the norm weights and eps are rescaled), the norms' changed denominators checked
// directly, depth slicing against skipping layers with the engine's resume, and the uniform
// head/FFN keep-lists chosen from importance.
#include <cmath>
#include <cstring>

#include "compress/slice_axes.h"
#include "engine/forward.h"
#include "engine/zlm.h"
#include "prune/minitron/importance.h"
#include "prune/minitron/shape.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

// The CPU backend, except that norms over `full` channels normalise over the channels `keep`
// only and write zeros elsewhere: the unpruned model's norms behaving as the sliced model's.
class KeptChannelNorms final : public Backend {
 public:
  KeptChannelNorms(std::vector<int> keep, int full) : keep_(std::move(keep)), full_(full) {}
  const char* name() const override { return "kept-channel-norms"; }
  Device device() const override { return Device::CPU; }
  void matmul(float* y, const float* x, const Tensor& W, const float* b, int M) override { cpu_->matmul(y, x, W, b, M); }
  void rmsnorm(float* y, const float* x, const float* w, int M, int D, float eps) override {
    if (D != full_) return cpu_->rmsnorm(y, x, w, M, D, eps);
    kept(y, x, w, nullptr, M, [&](float* ky, const float* kx, const float* kw, const float*, int K) {
      cpu_->rmsnorm(ky, kx, kw, 1, K, eps);
    });
  }
  void layernorm(float* y, const float* x, const float* w, const float* b, int M, int D, float eps) override {
    if (D != full_) return cpu_->layernorm(y, x, w, b, M, D, eps);
    kept(y, x, w, b, M, [&](float* ky, const float* kx, const float* kw, const float* kb, int K) {
      cpu_->layernorm(ky, kx, kw, kb, 1, K, eps);
    });
  }
  void rope(float* x, int M, int nh, int hd, const int* pos, float th) override { cpu_->rope(x, M, nh, hd, pos, th); }
  void kv_store(float* c, const float* x, int M, int nkv, int hd, int p0, int cl) override {
    cpu_->kv_store(c, x, M, nkv, hd, p0, cl);
  }
  void attention(float* o, const float* q, const float* k, const float* v, const AttentionArgs& a) override {
    cpu_->attention(o, q, k, v, a);
  }
  void swiglu(float* y, const float* g, const float* u, size_t n) override { cpu_->swiglu(y, g, u, n); }
  void gelu(float* y, const float* x, size_t n, GeluKind k) override { cpu_->gelu(y, x, n, k); }
  void softmax(float* x, int M, int N) override { cpu_->softmax(x, M, N); }
  void embedding(float* y, const Tensor& t, const int* ids, int M) override { cpu_->embedding(y, t, ids, M); }
  void add(float* y, const float* x, size_t n) override { cpu_->add(y, x, n); }
  void tanh(float* x, size_t n) override { cpu_->tanh(x, n); }

 private:
  template <typename F>
  void kept(float* y, const float* x, const float* w, const float* b, int M, F norm_k) {
    const size_t K = keep_.size();
    std::vector<float> kx(K), ky(K), kw(K), kb(K);
    for (size_t i = 0; i < K; i++) kw[i] = w[keep_[i]], kb[i] = b ? b[keep_[i]] : 0.0f;
    for (int m = 0; m < M; m++) {
      for (size_t i = 0; i < K; i++) kx[i] = x[size_t(m) * size_t(full_) + size_t(keep_[i])];
      norm_k(ky.data(), kx.data(), kw.data(), b ? kb.data() : nullptr, int(K));
      float* row = y + size_t(m) * size_t(full_);
      std::fill(row, row + full_, 0.0f);
      for (size_t i = 0; i < K; i++) row[keep_[i]] = ky[i];
    }
  }
  std::vector<int> keep_;
  int full_;
  std::unique_ptr<Backend> cpu_ = make_cpu_backend(1);
};

std::vector<int> some_channels(int dim) {
  std::vector<int> keep;
  for (int i = 0; i < dim; i++)
    if ((i * 7 + 3) % 5 != 0) keep.push_back(i);
  return keep;
}

// A deep copy of `m` whose residual stream never carries the channels outside `keep`: those
// columns of the embeddings and rows of every output projection (and its bias) are zero.
Model zero_dropped_channels(const Model& m, const std::vector<int>& keep) {
  Model z = m;
  std::vector<bool> kept(size_t(m.config.dim), false);
  for (int c : keep) kept[size_t(c)] = true;
  for (auto& [name, t0] : z.tensors) {
    Tensor t = t0.converted(DType::F32);
    float* p = t.ptr<float>();
    const bool cols = name == "tok_embd" || name == "pos_embd" || name == "type_embd";
    const bool rows = name.find("attn_output") != std::string::npos || name.find("ffn_down") != std::string::npos;
    if (cols)
      for (int64_t r = 0; r < t.dim(0); r++)
        for (int c = 0; c < m.config.dim; c++)
          if (!kept[size_t(c)]) p[r * m.config.dim + c] = 0;
    if (rows) {
      int64_t width = t.ndim() == 2 ? t.dim(1) : 1;
      for (int c = 0; c < m.config.dim; c++)
        if (!kept[size_t(c)]) std::fill(p + c * width, p + (c + 1) * width, 0.0f);
    }
    t0 = t;
  }
  return z;
}

std::vector<int> window(const Model& m, int n) {
  std::vector<int> t;
  for (int i = 0; i < n; i++) t.push_back((i * 37 + 11) % m.config.vocab_size);
  return t;
}

// Decoders: logits of every row; encoders: the last hidden states.
std::vector<float> outputs(const Model& m, Backend& be, const std::vector<int>& tokens) {
  InferenceContext ctx(m, be, 16, 16);
  const float* y = m.config.info().causal ? ctx.eval(tokens, true) : ctx.encode(tokens.data(), nullptr, int(tokens.size()));
  size_t width = size_t(m.config.info().causal ? m.config.vocab_size : m.config.dim);
  return std::vector<float>(y, y + tokens.size() * width);
}

std::vector<float> kept_columns(const std::vector<float>& x, int width, const std::vector<int>& keep) {
  std::vector<float> out;
  for (size_t r = 0; r < x.size() / size_t(width); r++)
    for (int c : keep) out.push_back(x[r * size_t(width) + size_t(c)]);
  return out;
}

void check_hidden_slice(const Model& m) {
  INFO(m.config.info().name);
  std::vector<int> keep = some_channels(m.config.dim);
  std::string path = ztest::temp_dir() + "/hidden.zlm";
  save_zlm(slice_hidden(m, keep), path);
  Model sliced = load_zlm(path);
  CHECK(sliced.config.dim == int(keep.size()));
  CHECK(sliced.config.head_dim == m.config.head_dim);
  CHECK(sliced.config.layers == m.config.layers);
  std::unique_ptr<Backend> cpu = make_cpu_backend(1);
  KeptChannelNorms masked(keep, m.config.dim);
  std::vector<int> tokens = window(m, 9);
  std::vector<float> got = outputs(sliced, *cpu, tokens), ref = outputs(zero_dropped_channels(m, keep), masked, tokens);
  if (!m.config.info().causal) ref = kept_columns(ref, m.config.dim, keep);
  CHECK(ztest::max_rel_err(got, ref) <= 1e-5);
  // Not a test that cannot fail: the unpruned model itself gives other outputs.
  std::vector<float> dense = outputs(m, *cpu, tokens);
  if (!m.config.info().causal) dense = kept_columns(dense, m.config.dim, keep);
  CHECK(ztest::max_rel_err(dense, ref) > 1e-3);
}

}  // namespace

TEST_CASE("minitron slice: the norms over the kept channels divide by their count (RMSNorm and LayerNorm)") {
  const int D = 10;
  std::vector<int> keep = some_channels(D);
  const double K = double(keep.size());
  std::vector<float> x(D), w(D), b(D), y(D);
  for (int i = 0; i < D; i++) x[size_t(i)] = float(std::sin(1.3 * i) * 3), w[size_t(i)] = 0.5f + 0.1f * float(i), b[size_t(i)] = 0.01f * float(i);
  KeptChannelNorms masked(keep, D);
  const float eps = 1e-5f;
  masked.rmsnorm(y.data(), x.data(), w.data(), 1, D, eps);
  double ss = 0;
  for (int c : keep) ss += double(x[size_t(c)]) * x[size_t(c)];
  for (int c = 0; c < D; c++) {
    bool k = std::find(keep.begin(), keep.end(), c) != keep.end();
    double want = k ? x[size_t(c)] / std::sqrt(ss / K + eps) * w[size_t(c)] : 0.0;
    CHECK(y[size_t(c)] == doctest::Approx(want).epsilon(1e-6));
  }
  masked.layernorm(y.data(), x.data(), w.data(), b.data(), 1, D, eps);
  double mean = 0, var = 0;
  for (int c : keep) mean += x[size_t(c)] / K;
  for (int c : keep) var += (x[size_t(c)] - mean) * (x[size_t(c)] - mean) / K;
  for (int c : keep)
    CHECK(y[size_t(c)] == doctest::Approx((x[size_t(c)] - mean) / std::sqrt(var + eps) * w[size_t(c)] + b[size_t(c)]).epsilon(1e-5));
}

TEST_CASE("minitron slice: hidden size of Llama, GPT-2 and BERT equals the model with those channels zeroed") {
  check_hidden_slice(ztest::stories260K());
  check_hidden_slice(ztest::tiny_llama());
  check_hidden_slice(ztest::tiny_gpt2());
  check_hidden_slice(ztest::tiny_bert());
}

TEST_CASE("minitron slice: RMSNorm models need no special norm: rescaled weights and eps give the same identity") {
  // With the dropped channels zero, rms over D = sqrt(K/D)·rms over K when eps is scaled by K/D,
  // so the stock engine running the zeroed model with norm weights × sqrt(K/D) is the sliced model.
  const Model& m = ztest::stories260K();
  std::vector<int> keep = some_channels(m.config.dim);
  const double ratio = double(keep.size()) / m.config.dim;
  Model z = zero_dropped_channels(m, keep);
  z.config.norm_eps = float(m.config.norm_eps * ratio);
  for (auto& [name, t] : z.tensors)
    if (name.size() > 5 && name.compare(name.size() - 5, 5, "_norm") == 0) {
      t = t.converted(DType::F32);
      for (int64_t i = 0; i < t.numel(); i++) t.ptr<float>()[i] *= float(std::sqrt(ratio));
    }
  std::unique_ptr<Backend> cpu = make_cpu_backend(1);
  std::vector<int> tokens = window(m, 9);
  CHECK(ztest::max_rel_err(outputs(slice_hidden(m, keep), *cpu, tokens), outputs(z, *cpu, tokens)) <= 1e-5);
}

TEST_CASE("minitron slice: dropping layers equals skipping them in the unpruned model") {
  for (const Model* mp : {&ztest::stories260K(), &ztest::tiny_gpt2(), &ztest::tiny_bert()}) {
    const Model& m = *mp;
    INFO(m.config.info().name);
    const int L = m.config.n_layers(), D = m.config.dim;
    std::vector<int> tokens = window(m, 9);
    const int n = int(tokens.size());
    std::unique_ptr<Backend> cpu = make_cpu_backend(1);
    for (int drop : {0, L - 1}) {
      // The stream entering layer `drop`, then the layers after it.
      struct Grab : ForwardObserver {
        int at;
        std::vector<float> x;
        void on_residual(int l, const float* r, int rows, int dim) override {
          if (l == at) x.assign(r, r + size_t(rows) * size_t(dim));
        }
      } grab;
      grab.at = drop;
      InferenceContext full(m, *cpu, 16, 16);
      full.set_observer(&grab);
      if (m.config.info().causal) full.eval(tokens, true);
      else full.encode(tokens.data(), nullptr, n);
      InferenceContext resumed(m, *cpu, 16, 16);
      const float* y = resumed.eval_from_layer(drop + 1, grab.x.data(), n, true);
      std::vector<float> ref(y, y + size_t(n) * size_t(m.config.info().causal ? m.config.vocab_size : D));
      Model shallow = keep_layers(m, layers_except(L, {drop}));
      CHECK(shallow.config.n_layers() == L - 1);
      CHECK(ztest::max_rel_err(outputs(shallow, *cpu, tokens), ref) <= 1e-5);
    }
  }
  CHECK_THROWS(keep_layers(ztest::stories260K(), {}));
  CHECK_THROWS(keep_layers(ztest::stories260K(), {1, 0}));
  CHECK_THROWS(layers_except(3, {1, 1}));
  CHECK_THROWS(slice_hidden(ztest::stories260K(), {5, 5}));
}

TEST_CASE("minitron slice: uniform heads within KV groups, FFN width, hidden size and depth from importance") {
  const Model& m = ztest::stories260K();
  const ModelConfig& c = m.config;
  minitron::UniformShape dense = minitron::uniform_shape_of(c);
  REQUIRE(dense.q_per_kv >= 2);
  // Made-up importance: group g's heads score by (g + 1)·(head index within the group + 1).
  minitron::Importance imp;
  for (int l = 0; l < c.n_layers(); l++) {
    std::vector<double> heads;
    for (int g = 0; g < dense.n_kv_heads; g++)
      for (int h = 0; h < dense.q_per_kv; h++) heads.push_back(double((g + 1) * (h + 1)) + 0.01 * l);
    imp.heads.push_back(heads);
    imp.kv_groups.push_back(minitron::kv_group_scores(heads, c.layers[size_t(l)].q_per_kv));
    std::vector<double> neurons;
    for (int i = 0; i < dense.ffn_dim; i++) neurons.push_back(double((i * 13) % dense.ffn_dim));
    imp.neurons.push_back(neurons);
    imp.block_importance.push_back(l == 2 ? 0.0 : 1.0 + l);
  }
  for (int i = 0; i < c.dim; i++) imp.channels.push_back(double(c.dim - i));  // earlier channels matter more
  minitron::UniformShape t = dense;
  t.n_kv_heads = dense.n_kv_heads - 1, t.q_per_kv = dense.q_per_kv - 1, t.ffn_dim = dense.ffn_dim / 2;
  SliceSpec spec = minitron::uniform_width_spec(c, imp, t.n_kv_heads, t.q_per_kv, t.ffn_dim);
  for (auto& [l, ls] : spec) {
    std::vector<int> want_kv;
    for (int g = 1; g < dense.n_kv_heads; g++) want_kv.push_back(g);  // group 0 scores lowest
    CHECK(ls.kv_heads == want_kv);
    std::vector<int> want_q;  // the last q_per_kv − 1 heads of each kept group
    for (int g : want_kv)
      for (int h = 1; h < dense.q_per_kv; h++) want_q.push_back(g * dense.q_per_kv + h);
    CHECK(*ls.q_heads == want_q);
    CHECK(ls.ffn_neurons == minitron::top_k(imp.neurons[size_t(l)], t.ffn_dim));
  }
  t.dim = c.dim - 8, t.n_layers = c.n_layers() - 1;
  Model p = minitron::prune_uniform(m, imp, t, minitron::DepthScore::BlockImportance);
  CHECK(minitron::uniform_shape_of(p.config).n_kv_heads == t.n_kv_heads);
  CHECK(minitron::uniform_shape_of(p.config).q_per_kv == t.q_per_kv);
  CHECK(p.config.layers[0].ffn_dim == t.ffn_dim);
  CHECK(p.config.dim == t.dim);
  CHECK(p.config.n_layers() == t.n_layers);
  // Layer 2 (lowest Block Importance) is the one gone: new layer 2 is old layer 3.
  Model wide = slice_model(m, spec);
  CHECK(p.get("blk.2.ffn_down").to_floats() ==
        take_rows(wide.get("blk.3.ffn_down"), minitron::top_k(imp.channels, t.dim)).to_floats());
  CHECK_THROWS(minitron::prune_uniform(m, imp, t, minitron::DepthScore::DropLoss));  // no drop losses computed
}

TEST_CASE("minitron slice: models with removed modules and uneven KV groups: importance, hidden size and depth") {
  const Model& m = ztest::stories260K_sliced();
  std::vector<int> tokens = window(m, 9);
  minitron::Importance imp = minitron::compute_importance(m, {tokens}, {}, {});
  for (int l = 0; l < m.config.n_layers(); l++) {
    const LayerShape& s = m.config.layers[size_t(l)];
    CHECK(imp.heads[size_t(l)].size() == size_t(s.n_heads()));
    CHECK(imp.kv_groups[size_t(l)].size() == size_t(s.n_kv_heads()));
    CHECK(imp.neurons[size_t(l)].size() == size_t(s.ffn_dim));
  }
  std::vector<int> keep = minitron::top_k(imp.channels, m.config.dim / 2);
  Model p = keep_layers(slice_hidden(m, keep), {0, 2});
  CHECK(p.config.layers[1] == m.config.layers[2]);
  std::unique_ptr<Backend> cpu = make_cpu_backend(1);
  KeptChannelNorms masked(keep, m.config.dim);
  CHECK(ztest::max_rel_err(outputs(slice_hidden(m, keep), *cpu, tokens),
                           outputs(zero_dropped_channels(m, keep), masked, tokens)) <= 1e-5);
  CHECK(outputs(p, *cpu, tokens).size() == tokens.size() * size_t(m.config.vocab_size));
}

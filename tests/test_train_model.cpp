// The training model end to end: the golden stories260K train step (loss and every gradient),
// the training forward against the inference forward, whole-model finite-difference gradient
// checks in double precision (random Llama / GPT-2 / BERT with per-layer shapes and removed
// modules, the tiny random GPT-2 and BERT checkpoints), AdamW, the LR schedule, export, and an
// overfitting run.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "engine/encoder.h"
#include "engine/forward.h"
#include "engine/train/adamw.h"
#include "engine/train/lr_schedule.h"
#include "engine/train/train_model.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"

using namespace zip;
using namespace zip::train;

namespace {

using ztest::stories260K;
using ztest::tiny_bert;
using ztest::tiny_gpt2;

TrainOpsT<double>& ops64() {
  static auto o = make_cpu_train_ops_f64(1);
  return *o;
}

// llama2.c names of the golden gradients -> canonical names.
std::string canonical(const std::string& ref) {
  static const std::map<std::string, std::string> top = {{"tok_embeddings", "tok_embd"}, {"norm", "output_norm"}};
  static const std::map<std::string, std::string> layer = {
      {"attention_norm", "attn_norm"}, {"wq", "attn_q"},       {"wk", "attn_k"},       {"wv", "attn_v"},
      {"wo", "attn_output"},          {"ffn_norm", "ffn_norm"}, {"w1", "ffn_gate"},     {"w2", "ffn_down"},
      {"w3", "ffn_up"}};
  if (top.count(ref)) return top.at(ref);
  // layers.L.what
  size_t a = ref.find('.'), b = ref.find('.', a + 1);
  return "blk." + ref.substr(a + 1, b - a - 1) + "." + layer.at(ref.substr(b + 1));
}

struct GoldenBatch {
  int B = 0, T = 0;
  std::vector<int> tokens, targets;
  double loss = 0;
};
GoldenBatch golden_batch(const nlohmann::json& g) {
  GoldenBatch b;
  auto& ts = g["train_step"];
  b.B = int(ts["inputs"].size());
  b.T = int(ts["inputs"][0].size());
  for (auto& row : ts["inputs"])
    for (auto& v : row) b.tokens.push_back(v.get<int>());
  for (auto& row : ts["targets"])
    for (auto& v : row) b.targets.push_back(v.get<int>());
  b.loss = ts["loss"].get<double>();
  return b;
}

double rel_l2(const std::vector<float>& a, const std::vector<float>& ref) {
  double d = 0, r = 0;
  for (size_t i = 0; i < a.size(); i++) {
    d += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
    r += double(ref[i]) * ref[i];
  }
  return std::sqrt(d / r);
}

template <typename T>
std::vector<float> grad_of(TrainModelT<T>& tm, const std::string& name) {
  const ParamInfo& p = tm.info(name);
  const T* g = tm.grad(name);
  return std::vector<float>(g, g + p.numel);
}

// A model with random weights: norm scales near 1, small biases, weights ~ 1/sqrt(fan-in).
Model random_model(const ModelConfig& c, uint32_t seed) {
  Model m;
  m.config = c;
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (auto& s : expected_tensors(c)) {
    std::vector<float> v(size_t(shape_numel(s.shape)));
    bool bias = s.name.size() > 5 && s.name.compare(s.name.size() - 5, 5, ".bias") == 0;
    bool emb = s.name == "tok_embd" || s.name == "pos_embd" || s.name == "type_embd";
    for (auto& x : v) {
      if (s.shape.size() == 1)
        x = bias ? 0.1f * nd(rng) : 1.0f + 0.1f * nd(rng);
      else
        x = nd(rng) * (emb ? 0.5f : 1.0f / std::sqrt(float(s.shape[1])));
    }
    m.tensors[s.name] = Tensor::from_floats(v, s.shape);
  }
  m.validate();
  return m;
}

// A small config of `arch` with per-layer shapes: uneven KV groups, a layer without attention, a
// layer without FFN.
ModelConfig shaped_config(Arch arch) {
  ModelConfig c;
  c.arch = arch;
  c.dim = 8, c.vocab_size = 11, c.max_seq_len = 16, c.head_dim = 4;
  const ArchInfo& a = c.info();
  c.tied_embeddings = arch == Arch::GPT2;
  LayerShape l0, l1, l2;
  l0.q_per_kv = {3, 1}, l0.ffn_dim = 12;
  l1.ffn_dim = 6;  // attention removed
  l2.q_per_kv = {1, 2};  // FFN removed
  c.layers = {l0, l1, l2};
  if (a.token_types) c.n_token_types = 2;
  if (!a.causal) c.pooler = true, c.labels = {"a", "b", "c"};
  validate_config(c);
  return c;
}

std::vector<double> randn(size_t n, std::mt19937& rng) {
  std::normal_distribution<double> d;
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}
double dot(const double* a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < b.size(); i++) s += a[i] * b[i];
  return s;
}

// Finite-difference check of every parameter tensor of `m` (double precision) on a random
// sample of entries. Objective: the built-in loss plus random linear functionals of the
// outputs fed in as gradient seeds (logits / class logits, final hidden states, and the
// residual stream entering layer 1), so the seed paths are checked too. `row_mask` zeroes the
// hidden-state functional on padding rows. Returns the worst error over tensors:
// max |fd - g| over the sampled entries / max |g| over the tensor (see the floor below).
double model_grad_check(const Model& m, const Batch& b, const std::vector<int>& row_mask, int samples,
                        uint32_t seed, const char* label) {
  TrainOptions opt;
  opt.max_B = b.B, opt.max_T = b.T;
  TrainModelT<double> tm(m, ops64(), opt);
  const ModelConfig& c = m.config;
  std::mt19937 rng(seed);
  size_t M = size_t(b.B) * b.T, D = size_t(c.dim);
  bool causal = c.info().causal;
  size_t n_out = causal ? M * size_t(c.vocab_size) : size_t(b.B) * c.labels.size();
  auto w_out = randn(n_out, rng), w_hid = randn(M * D, rng), w_res = randn(M * D, rng);
  for (auto& x : w_out) x *= 0.1;
  for (size_t r = 0; r < M; r++)
    for (size_t j = 0; j < D; j++) {
      w_hid[r * D + j] *= 0.1 * row_mask[r];
      w_res[r * D + j] *= 0.1 * row_mask[r];
    }
  bool use_res = c.n_layers() > 1;
  auto objective = [&]() {
    double loss = tm.forward(b);
    loss += dot(causal ? tm.logits() : tm.class_logits(), w_out);
    loss += dot(tm.hidden(), w_hid);
    if (use_res) loss += dot(tm.residual(1), w_res);
    return loss;
  };
  tm.zero_grad();
  objective();
  std::copy(w_out.begin(), w_out.end(), causal ? tm.logits_grad() : tm.class_logits_grad());
  for (size_t i = 0; i < w_hid.size(); i++) tm.hidden_grad()[i] += w_hid[i];
  if (use_res) std::copy(w_res.begin(), w_res.end(), tm.residual_grad(1));
  tm.backward();
  std::vector<double> g(tm.grad_data(), tm.grad_data() + tm.n_params());
  double worst = 0, worst_nonzero = 0, h = 1e-5, gall = 0;
  for (double x : g) gall = std::max(gall, std::fabs(x));
  std::string worst_name;
  for (auto& p : tm.params()) {
    double gmax = 0;
    for (size_t i = 0; i < p.numel; i++) gmax = std::max(gmax, std::fabs(g[p.offset + i]));
    // Sample entries, always including the largest gradient.
    std::vector<size_t> idx;
    size_t best = 0;
    for (size_t i = 0; i < p.numel; i++)
      if (std::fabs(g[p.offset + i]) > std::fabs(g[p.offset + best])) best = i;
    idx.push_back(best);
    std::uniform_int_distribution<size_t> pick(0, p.numel - 1);
    for (int s = 0; s < samples && idx.size() < p.numel; s++) idx.push_back(pick(rng));
    double err = 0;
    for (size_t i : idx) {
      double* x = tm.param_data() + p.offset + i;
      double o = *x;
      *x = o + h;
      double lp = objective();
      *x = o - h;
      double lm = objective();
      *x = o;
      err = std::max(err, std::fabs((lp - lm) / (2 * h) - g[p.offset + i]));
    }
    // Relative to the tensor's largest gradient, floored at 1e-3 of the model's: some gradients
    // are exactly 0 analytically (a key bias shifts every score of a row equally, and softmax
    // ignores that), where the finite difference is pure rounding noise (~1e-9).
    err /= std::max(gmax, 1e-3 * gall);
    if (err > worst) worst = err, worst_name = p.name;
    if (gmax >= 1e-3 * gall) worst_nonzero = std::max(worst_nonzero, err);
  }
  MESSAGE(std::string(label) << ": worst finite-difference rel err " << worst << " (" << worst_name
                             << "); over tensors with gradients not ~0: " << worst_nonzero);
  return worst;
}

}  // namespace

TEST_CASE("train: stories260K golden train step (loss and every gradient)") {
  auto g = ztest::load_json(ztest::shared("golden/stories260K/index.json"));
  GoldenBatch gb = golden_batch(g);
  Batch b;
  b.B = gb.B, b.T = gb.T, b.tokens = gb.tokens.data(), b.targets = gb.targets.data();
  std::vector<std::vector<float>> first;
  for (auto [threads, recompute] : {std::pair{1, false}, std::pair{2, true}}) {
    auto ops = make_cpu_train_ops(threads);
    TrainOptions opt;
    opt.max_B = b.B, opt.max_T = b.T, opt.recompute = recompute;
    TrainModel tm(stories260K(), *ops, opt);
    tm.zero_grad();
    double loss = tm.forward(b);
    tm.backward();
    double loss_err = std::fabs(loss - gb.loss) / gb.loss, worst = 0;
    std::string worst_name;
    int n = 0;
    std::vector<std::vector<float>> grads;
    for (auto& [key, meta] : g.items()) {
      if (key.rfind("grad.", 0) != 0) continue;
      std::string ref_name = key.substr(5, key.size() - 9);  // strip "grad." and ".f32"
      auto ref = ztest::load_f32(ztest::shared("golden/stories260K/" + key));
      auto got = grad_of(tm, canonical(ref_name));
      REQUIRE(got.size() == ref.size());
      double e = rel_l2(got, ref);
      if (e > worst) worst = e, worst_name = ref_name;
      grads.push_back(got);
      n++;
    }
    MESSAGE("threads " << threads << std::string(recompute ? " recompute" : "") << ": loss " << loss << " rel err "
                       << loss_err << "; worst gradient rel err " << worst << " (" << worst_name << ") over " << n
                       << " tensors");
    CHECK(n == 47);
    CHECK(loss_err < 1e-5);
    CHECK(worst < 1e-4);
    // Thread count and recomputation do not change the arithmetic.
    if (first.empty())
      first = grads;
    else
      for (size_t i = 0; i < grads.size(); i++) CHECK(ztest::max_rel_err(grads[i], first[i]) < 1e-6);
  }
}

TEST_CASE("train: training forward equals the inference forward's cross-entropy") {
  auto be = make_cpu_backend(1);
  auto ops = make_cpu_train_ops(2);
  for (const Model* m : {&stories260K(), &tiny_gpt2()}) {
    const int B = 2, T = 24;
    std::mt19937 rng(3);
    std::uniform_int_distribution<int> tok(0, m->config.vocab_size - 1);
    std::vector<int> seq(size_t(B) * (T + 1));
    for (auto& t : seq) t = tok(rng);
    std::vector<int> tokens, targets;
    double ce = 0;
    for (int s = 0; s < B; s++) {
      std::vector<int> in(seq.begin() + s * (T + 1), seq.begin() + s * (T + 1) + T);
      tokens.insert(tokens.end(), in.begin(), in.end());
      targets.insert(targets.end(), seq.begin() + s * (T + 1) + 1, seq.begin() + (s + 1) * (T + 1));
      InferenceContext ctx(*m, *be);
      const float* z = ctx.eval(in, true);
      int V = m->config.vocab_size;
      for (int t = 0; t < T; t++) {
        const float* r = z + size_t(t) * V;
        double mx = *std::max_element(r, r + V), sum = 0;
        for (int i = 0; i < V; i++) sum += std::exp(double(r[i]) - mx);
        ce += mx + std::log(sum) - r[targets[size_t(s * T + t)]];
      }
    }
    ce /= B * T;
    TrainOptions opt;
    opt.max_B = B, opt.max_T = T;
    TrainModel tm(*m, *ops, opt);
    Batch b;
    b.B = B, b.T = T, b.tokens = tokens.data(), b.targets = targets.data();
    double loss = tm.forward(b);
    MESSAGE(std::string(m->config.info().name) << ": training loss " << loss << ", inference CE " << ce << ", rel err "
                                  << std::fabs(loss - ce) / ce);
    CHECK(std::fabs(loss - ce) / ce < 1e-5);
  }
}

TEST_CASE("train: BERT padded batch equals the inference encoder on the real tokens") {
  const Model& m = tiny_bert();
  auto ops = make_cpu_train_ops(1);
  const int B = 2, T = 10;
  std::vector<int> tokens = {2, 45, 67, 89, 101, 23, 34, 56, 78, 3, 2, 99, 12, 300, 44, 3, 0, 0, 0, 0};
  std::vector<int> types = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0};
  std::vector<int> lengths = {10, 6};
  TrainOptions opt;
  opt.max_B = B, opt.max_T = T;
  TrainModel tm(m, *ops, opt);
  Batch b;
  b.B = B, b.T = T, b.tokens = tokens.data(), b.types = types.data(), b.lengths = lengths.data();
  tm.forward(b);
  auto be = make_cpu_backend(1);
  InferenceContext ctx(m, *be);
  double worst = 0;
  for (int s = 0; s < B; s++) {
    int n = lengths[size_t(s)];
    std::vector<int> ids(tokens.begin() + s * T, tokens.begin() + s * T + n);
    std::vector<int> ty(types.begin() + s * T, types.begin() + s * T + n);
    EncoderOutput o = run_encoder(ctx, ids, ty);
    std::vector<float> got(tm.hidden() + size_t(s) * T * m.config.dim, tm.hidden() + size_t(s * T + n) * m.config.dim);
    worst = std::max(worst, ztest::max_rel_err(got, o.hidden));
    std::vector<float> logits(tm.class_logits() + s * 2, tm.class_logits() + s * 2 + 2);
    worst = std::max(worst, ztest::max_rel_err(logits, o.logits));
  }
  MESSAGE("BERT training vs inference hidden states / classifier logits: rel err " << worst);
  CHECK(worst < 1e-5);
}

TEST_CASE("train: whole-model gradients by finite differences (per-layer shapes, removed modules)") {
  for (Arch arch : {Arch::Llama, Arch::GPT2, Arch::BERT}) {
    ModelConfig c = shaped_config(arch);
    Model m = random_model(c, 7 + uint32_t(arch));
    const int B = 2, T = 5;
    std::mt19937 rng(1);
    std::uniform_int_distribution<int> tok(0, c.vocab_size - 1);
    std::vector<int> tokens(size_t(B) * T), targets(size_t(B) * T), types(size_t(B) * T, 0), lengths = {5, 3};
    for (auto& t : tokens) t = tok(rng);
    for (auto& t : targets) t = tok(rng);
    targets[3] = -1;  // an ignored target
    for (int t = 2; t < T; t++) types[size_t(t)] = 1;
    std::vector<int> labels = {2, 0}, mask(size_t(B) * T, 1);
    Batch b;
    b.B = B, b.T = T, b.tokens = tokens.data();
    if (c.info().causal) {
      b.targets = targets.data();
    } else {
      b.types = types.data(), b.lengths = lengths.data(), b.labels = labels.data();
      for (int t = 3; t < T; t++) mask[size_t(T + t)] = 0;
    }
    CHECK(model_grad_check(m, b, mask, 6, 5, c.info().name) < 1e-6);
  }
}

TEST_CASE("train: tiny random GPT-2 and BERT checkpoints, finite-difference gradients") {
  {
    const Model& m = tiny_gpt2();
    const int B = 2, T = 8;
    std::mt19937 rng(2);
    std::uniform_int_distribution<int> tok(0, m.config.vocab_size - 1);
    std::vector<int> tokens(size_t(B) * T), targets(size_t(B) * T), mask(size_t(B) * T, 1);
    for (auto& t : tokens) t = tok(rng);
    for (auto& t : targets) t = tok(rng);
    Batch b;
    b.B = B, b.T = T, b.tokens = tokens.data(), b.targets = targets.data();
    CHECK(model_grad_check(m, b, mask, 3, 6, "tiny-random-gpt2") < 1e-6);
  }
  {
    // Two sequences of different lengths (8 and 5 real tokens); loss: the classifier's
    // cross-entropy on a label per sequence, plus a random functional of the real tokens'
    // last hidden states (padding rows excluded).
    const Model& m = tiny_bert();
    const int B = 2, T = 8;
    std::vector<int> tokens = {2, 40, 41, 42, 43, 44, 45, 3, 2, 50, 51, 52, 3, 0, 0, 0};
    std::vector<int> types = {0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0};
    std::vector<int> lengths = {8, 5}, labels = {1, 0}, mask(size_t(B) * T, 1);
    for (int t = 5; t < T; t++) mask[size_t(T + t)] = 0;
    Batch b;
    b.B = B, b.T = T, b.tokens = tokens.data(), b.types = types.data(), b.lengths = lengths.data();
    b.labels = labels.data();
    CHECK(model_grad_check(m, b, mask, 3, 7, "tiny-random-bert") < 1e-6);
  }
}

TEST_CASE("train: AdamW step against a hand-computed update (decay groups, clipping)") {
  ModelConfig c = shaped_config(Arch::GPT2);
  Model m = random_model(c, 3);
  auto ops = make_cpu_train_ops_f64(1);
  TrainOptions opt;
  opt.max_B = 1, opt.max_T = 4;
  TrainModelT<double> tm(m, *ops, opt);
  std::mt19937 rng(4);
  auto g = randn(tm.n_params(), rng);
  std::copy(g.begin(), g.end(), tm.grad_data());
  std::vector<double> p0(tm.param_data(), tm.param_data() + tm.n_params());
  AdamWConfig cfg;
  cfg.beta1 = 0.9, cfg.beta2 = 0.95, cfg.eps = 1e-8, cfg.weight_decay = 0.1, cfg.grad_clip = 1.0;
  AdamWT<double> adam(tm, cfg);
  double lr = 1e-2;
  double norm = adam.step(lr);
  double ref_norm = 0;
  for (double x : g) ref_norm += x * x;
  ref_norm = std::sqrt(ref_norm);
  CHECK(std::fabs(norm - ref_norm) < 1e-9 * ref_norm);
  double scale = 1.0 / (ref_norm + 1e-6);  // clipped to norm 1
  double worst = 0;
  int decayed = 0;
  for (auto& p : tm.params()) {
    bool decay = p.shape.size() == 2 && !p.embedding;
    CHECK(adam.decays(p) == decay);
    decayed += decay;
    for (size_t i = p.offset; i < p.offset + p.numel; i++) {
      // Step 1: m̂ = g', v̂ = g'², so the Adam direction is g'/(|g'| + eps).
      double gi = g[i] * double(float(scale)), mh = gi, vh = gi * gi;
      double want = p0[i] - double(float(lr)) * (mh / (std::sqrt(vh) + double(float(cfg.eps))) +
                                                (decay ? double(float(cfg.weight_decay)) * p0[i] : 0.0));
      worst = std::max(worst, std::fabs(tm.param_data()[i] - want));
    }
  }
  CHECK(decayed > 0);
  CHECK(worst < 1e-12);
  CHECK(adam.steps() == 1);
  // A non-finite gradient skips the update.
  tm.grad_data()[0] = NAN;
  std::vector<double> before(tm.param_data(), tm.param_data() + tm.n_params());
  CHECK(!std::isfinite(adam.step(lr)));
  CHECK(adam.steps() == 1);
  CHECK(std::equal(before.begin(), before.end(), tm.param_data()));
}

TEST_CASE("train: learning-rate schedules") {
  LrSchedule s;
  s.peak_lr = 1e-3, s.min_lr = 1e-4, s.warmup_steps = 10, s.total_steps = 110;
  CHECK(s.at(0) == doctest::Approx(1e-4));
  CHECK(s.at(9) == doctest::Approx(1e-3));
  CHECK(s.at(10) == doctest::Approx(1e-3));
  CHECK(s.at(60) == doctest::Approx(5.5e-4));  // cosine midpoint
  CHECK(s.at(110) == doctest::Approx(1e-4));
  CHECK(s.at(500) == doctest::Approx(1e-4));
  s.decay = LrDecay::Linear;
  CHECK(s.at(35) == doctest::Approx(1e-3 - 0.25 * 9e-4));
  s.decay = LrDecay::Constant;
  CHECK(s.at(100) == doctest::Approx(1e-3));
  CHECK(parse_lr_decay("cosine") == LrDecay::Cosine);
  CHECK_THROWS_AS(parse_lr_decay("step"), zip::Error);
}

TEST_CASE("train: export to a Model round-trips and runs in the inference engine") {
  auto ops = make_cpu_train_ops(1);
  TrainOptions opt;
  opt.max_B = 1, opt.max_T = 16;
  TrainModel tm(stories260K(), *ops, opt);
  Model out = tm.to_model();
  out.validate();
  for (auto& [name, t] : stories260K().tensors) CHECK(ztest::max_rel_err(out.get(name).to_floats(), t.to_floats()) == 0);
  std::vector<int> ids = {1, 400, 300, 261, 287, 300, 500, 42};
  Batch b;
  b.B = 1, b.T = int(ids.size()), b.tokens = ids.data();
  tm.forward(b);
  auto be = make_cpu_backend(1);
  InferenceContext ctx(out, *be);
  const float* z = ctx.eval(ids, true);
  size_t n = ids.size() * size_t(out.config.vocab_size);
  CHECK(ztest::max_rel_err(std::vector<float>(tm.logits(), tm.logits() + n), std::vector<float>(z, z + n)) < 1e-5);
  CHECK_THROWS_AS(tm.info("no_such_tensor"), zip::Error);
}

TEST_CASE("train: a tiny model overfits a repeated sequence") {
  ModelConfig c;
  c.arch = Arch::Llama;
  c.dim = 32, c.vocab_size = 16, c.max_seq_len = 32, c.head_dim = 8;
  c.layers = {uniform_layer(4, 2, 64), uniform_layer(4, 2, 64)};
  Model m = random_model(c, 11);
  auto ops = make_cpu_train_ops(1);
  const int B = 2, T = 16;
  std::vector<int> pattern = {1, 5, 9, 2, 7, 7, 3, 12, 4, 1, 15, 6};
  std::vector<int> tokens, targets;
  for (int s = 0; s < B; s++)
    for (int t = 0; t < T; t++) {
      tokens.push_back(pattern[size_t(s * 3 + t) % pattern.size()]);
      targets.push_back(pattern[size_t(s * 3 + t + 1) % pattern.size()]);
    }
  TrainOptions opt;
  opt.max_B = B, opt.max_T = T;
  TrainModel tm(m, *ops, opt);
  AdamWConfig cfg;
  cfg.weight_decay = 0.01;
  AdamW adam(tm, cfg);
  LrSchedule sched;
  sched.peak_lr = 1e-2, sched.min_lr = 1e-3, sched.warmup_steps = 10, sched.total_steps = 150;
  Batch b;
  b.B = B, b.T = T, b.tokens = tokens.data(), b.targets = targets.data();
  double first = 0, loss = 0;
  for (int step = 0; step < sched.total_steps; step++) {
    tm.zero_grad();
    loss = tm.forward(b);
    if (step == 0) first = loss;
    tm.backward();
    adam.step(sched.at(step));
  }
  loss = tm.forward(b);
  MESSAGE("overfit: loss " << first << " -> " << loss << " after " << sched.total_steps << " steps");
  CHECK(loss < 0.02);
}

TEST_CASE("train: distillation flow (KL on logits + cosine on hidden states through a learnable map)") {
  // Teacher: a random Llama; student: narrower (dim 16 vs 24), pruned per-layer shapes. The
  // student learns from the teacher's logits (τ = 2) and final hidden states (mapped 16 -> 24 by
  // a shared learnable linear map, weighted by α = L_kl / L_cos held constant), as in Minitron.
  ModelConfig tc;
  tc.arch = Arch::Llama;
  tc.dim = 24, tc.vocab_size = 20, tc.max_seq_len = 16, tc.head_dim = 8;
  tc.layers = {uniform_layer(4, 2, 48), uniform_layer(4, 2, 48)};
  ModelConfig sc = tc;
  sc.dim = 16;
  LayerShape s0, s1;
  s0.q_per_kv = {2, 1}, s0.ffn_dim = 24;
  s1.q_per_kv = {1}, s1.ffn_dim = 16;
  sc.layers = {s0, s1};
  Model teacher = random_model(tc, 21), student = random_model(sc, 22);
  auto ops = make_cpu_train_ops(1);
  const int B = 2, T = 12, M = B * T, V = tc.vocab_size, Dt = tc.dim, Ds = sc.dim;
  const float tau = 2.0f;
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> tok(0, V - 1);
  std::vector<int> tokens(static_cast<size_t>(M));
  for (auto& t : tokens) t = tok(rng);
  Batch b;
  b.B = B, b.T = T, b.tokens = tokens.data();
  TrainOptions opt;
  opt.max_B = B, opt.max_T = T;
  TrainModel tt(teacher, *ops, opt), st(student, *ops, opt);
  tt.forward(b);
  std::vector<float> t_logits(tt.logits(), tt.logits() + size_t(M) * V);
  std::vector<float> t_hidden(tt.hidden(), tt.hidden() + size_t(M) * Dt);
  // The map's parameters: W [Dt, Ds] and its bias, in one flat buffer.
  std::vector<ParamInfo> layout = {{"map", {Dt, Ds}, 0, size_t(Dt) * Ds, false},
                                   {"map.bias", {Dt}, size_t(Dt) * Ds, size_t(Dt), false}};
  std::vector<float> map_p(size_t(Dt) * Ds + Dt), map_g(map_p.size());
  std::normal_distribution<float> nd(0.0f, 0.25f);
  for (size_t i = 0; i < size_t(Dt) * Ds; i++) map_p[i] = nd(rng);
  AdamWConfig cfg;
  AdamW adam_s(st, cfg), adam_m(*ops, map_p.data(), map_g.data(), layout, cfg);
  std::vector<float> row(static_cast<size_t>(M)), mapped(size_t(M) * Dt), dmapped(mapped.size());
  double kl0 = 0, cos0 = 0, kl = 0, cos = 0;
  for (int step = 0; step <= 80; step++) {
    st.zero_grad();
    std::fill(map_g.begin(), map_g.end(), 0.0f);
    st.forward(b);
    ops->kl_div_fwd(row.data(), st.logits(), t_logits.data(), nullptr, M, V, tau);
    kl = ops->sum(row.data(), size_t(M)) / M;
    ops->linear_fwd(mapped.data(), st.hidden(), map_p.data(), map_p.data() + size_t(Dt) * Ds, M, Ds, Dt);
    ops->cosine_loss_fwd(row.data(), mapped.data(), t_hidden.data(), nullptr, M, Dt);
    cos = ops->sum(row.data(), size_t(M)) / M;
    if (step == 0) kl0 = kl, cos0 = cos;
    if (step == 80) break;
    double alpha = kl / cos;  // a constant: no gradient flows through it
    ops->kl_div_bwd(st.logits_grad(), st.logits(), t_logits.data(), nullptr, M, V, tau, 1.0 / M);
    std::fill(dmapped.begin(), dmapped.end(), 0.0f);
    ops->cosine_loss_bwd(dmapped.data(), mapped.data(), t_hidden.data(), nullptr, M, Dt, alpha / M);
    ops->linear_bwd(st.hidden_grad(), map_g.data(), map_g.data() + size_t(Dt) * Ds, dmapped.data(), st.hidden(),
                    map_p.data(), M, Ds, Dt);
    st.backward();  // no built-in loss: only the seeds
    adam_s.step(3e-3);
    adam_m.step(3e-3);
  }
  MESSAGE("distillation: KL " << kl0 << " -> " << kl << ", cosine loss " << cos0 << " -> " << cos);
  CHECK(kl < 0.3 * kl0);
  CHECK(cos < 0.5 * cos0);
}

// Throughput of a stories260K train step (B=16, T=128): run with --no-skip.
TEST_CASE("train: stories260K step throughput" * doctest::skip()) {
  const int B = 16, T = 128;
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> tok(0, 511);
  std::vector<int> tokens(size_t(B) * T), targets(size_t(B) * T);
  for (auto& t : tokens) t = tok(rng);
  for (auto& t : targets) t = tok(rng);
  Batch b;
  b.B = B, b.T = T, b.tokens = tokens.data(), b.targets = targets.data();
  for (int threads : {1, 2}) {
    auto ops = make_cpu_train_ops(threads);
    TrainOptions opt;
    opt.max_B = B, opt.max_T = T;
    TrainModel tm(stories260K(), *ops, opt);
    AdamW adam(tm, AdamWConfig{});
    auto run = [&] {
      tm.zero_grad();
      tm.forward(b);
      tm.backward();
      adam.step(1e-4);
    };
    run();  // warm-up
    // Best and median of several steps: the best approximates an otherwise idle machine.
    std::vector<double> times;
    for (int i = 0; i < 9; i++) {
      auto t0 = std::chrono::steady_clock::now();
      run();
      times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(times.begin(), times.end());
    MESSAGE(threads << " thread(s): best " << times[0] * 1e3 << " ms/step (" << B * T / times[0]
                    << " tokens/s), median " << times[4] * 1e3 << " ms/step (" << B * T / times[4] << " tokens/s)");
  }
}

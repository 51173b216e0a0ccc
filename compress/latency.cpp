#include "compress/latency.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <tuple>

#include "base/stats.h"
#include "engine/backend_registry.h"
#include "engine/error.h"
#include "engine/forward.h"
#include "engine/quant/quantize_model.h"
#include "kernels/cpu/linalg.h"

namespace zip {

using json = nlohmann::json;

// ---- the table ---------------------------------------------------------------------------------

AttnLevel attention_level(const LayerShape& s) { return {s.n_heads(), s.n_kv_heads()}; }

double LatencyTable::attn_time(int q, int kv) const {
  auto it = attn.find({q, kv});
  ZIP_CHECK(it != attn.end(), "latency table ({}): no attention level with {} query heads and {} KV heads",
            env_to_string(env), q, kv);
  return it->second;
}

double LatencyTable::ffn_time(int width) const {
  auto it = ffn.find(width);
  ZIP_CHECK(it != ffn.end(), "latency table ({}): no FFN level of width {}", env_to_string(env), width);
  return it->second;
}

double LatencyTable::predict(const std::vector<AttnLevel>& a, const std::vector<int>& f) const {
  ZIP_CHECK(a.size() == f.size(), "latency: {} attention levels for {} FFN levels", a.size(), f.size());
  double sum = 0;
  for (size_t l = 0; l < a.size(); l++) sum += attn_time(a[l]) + ffn_time(f[l]);
  return t_fixed + sum;
}

double LatencyTable::predict(const ModelConfig& c) const {
  std::vector<AttnLevel> a;
  std::vector<int> f;
  for (auto& s : c.layers) a.push_back(attention_level(s)), f.push_back(s.ffn_dim);
  return predict(a, f);
}

double predict_time(const LatencyTable& t, const std::vector<AttnLevel>& a, const std::vector<int>& f) {
  return t.predict(a, f);
}

json LatencyTable::to_json() const {
  json ja = json::array(), jf = json::array();
  for (auto& [lv, t] : attn) ja.push_back({lv.first, lv.second, t});
  for (auto& [w, t] : ffn) jf.push_back({w, t});
  return {{"env", env_to_json(env)},
          {"env_string", env_to_string(env)},
          {"t_dense", t_dense},
          {"t_fixed", t_fixed},
          {"attention", ja},
          {"ffn", jf},
          {"method", {{"warmup", method.warmup}, {"reps", method.reps}}},
          {"info", info}};
}

LatencyTable LatencyTable::from_json(const json& j) {
  LatencyTable t;
  try {
    ZIP_CHECK(j.is_object(), "latency table: expected an object");
    t.env = env_from_json(j.at("env"));
    t.t_dense = j.at("t_dense").get<double>();
    t.t_fixed = j.at("t_fixed").get<double>();
    for (auto& e : j.at("attention")) {
      ZIP_CHECK(e.is_array() && e.size() == 3, "latency table: attention entries are [q, kv, seconds]");
      AttnLevel lv{e[0].get<int>(), e[1].get<int>()};
      ZIP_CHECK(t.attn.emplace(lv, e[2].get<double>()).second, "latency table: attention level ({}, {}) twice",
                lv.first, lv.second);
    }
    for (auto& e : j.at("ffn")) {
      ZIP_CHECK(e.is_array() && e.size() == 2, "latency table: ffn entries are [width, seconds]");
      ZIP_CHECK(t.ffn.emplace(e[0].get<int>(), e[1].get<double>()).second, "latency table: FFN width {} twice",
                e[0].get<int>());
    }
    if (j.contains("method")) {
      t.method.warmup = j["method"].value("warmup", t.method.warmup);
      t.method.reps = j["method"].value("reps", t.method.reps);
    }
    if (j.contains("info")) t.info = j["info"];
  } catch (const json::exception& x) {
    fail("latency table: {}", x.what());
  }
  return t;
}

std::string LatencyTable::describe() const {
  std::string s = fmt::format("latency table {} (warmup {}, reps {}): T_dense {:.3f} ms, T_fixed {:.3f} ms\n",
                              env_to_string(env), method.warmup, method.reps, t_dense * 1e3, t_fixed * 1e3);
  s += "  attention (q, kv):";
  for (auto it = attn.rbegin(); it != attn.rend(); ++it)
    s += fmt::format(" ({},{}) {:.4f}", it->first.first, it->first.second, it->second * 1e3);
  s += " ms\n  ffn width:";
  for (auto it = ffn.rbegin(); it != ffn.rend(); ++it) s += fmt::format(" {} {:.4f}", it->first, it->second * 1e3);
  return s + " ms\n";
}

std::set<AttnLevel> feasible_attention_levels(const LayerShape& s) {
  std::set<AttnLevel> out{{0, 0}};
  std::vector<int> sizes = s.q_per_kv;
  std::sort(sizes.rbegin(), sizes.rend());
  int cap = 0;  // most query heads kv groups can hold: the kv largest groups
  for (int kv = 1; kv <= int(sizes.size()); kv++) {
    cap += sizes[size_t(kv - 1)];
    for (int q = kv; q <= cap; q++) out.insert({q, kv});
  }
  return out;
}

// The dense level of every layer, plus 0, plus the requested ones.
static void add_required(const ModelConfig& c, std::set<AttnLevel>& a, std::set<int>& f) {
  a.insert({0, 0});
  f.insert(0);
  for (auto& s : c.layers) a.insert(attention_level(s)), f.insert(s.ffn_dim);
}

static void dense_sum_and_fixed(LatencyTable& t, const ModelConfig& c) {
  double sum = 0;
  for (auto& s : c.layers) sum += t.attn_time(attention_level(s)) + t.ffn_time(s.ffn_dim);
  t.t_fixed = t.t_dense - sum;
}

LatencyTable synthetic_latency_table(const ModelConfig& c, const Env& env, const SyntheticCosts& k,
                                     const std::set<AttnLevel>& attn_levels, const std::set<int>& ffn_levels) {
  LatencyTable t;
  t.env = env;
  t.method = {0, 0};
  t.info = {{"synthetic", true}};
  std::set<AttnLevel> a = attn_levels;
  std::set<int> f = ffn_levels;
  add_required(c, a, f);
  for (auto [q, kv] : a) t.attn[{q, kv}] = q == 0 && kv == 0 ? 0.0 : k.attn_base + k.per_q * q + k.per_kv * kv;
  for (int w : f) t.ffn[w] = w == 0 ? 0.0 : k.ffn_base + k.per_neuron * w;
  double sum = 0;
  for (auto& s : c.layers) sum += t.attn_time(attention_level(s)) + t.ffn_time(s.ffn_dim);
  t.t_dense = k.t_fixed + sum;
  dense_sum_and_fixed(t, c);
  return t;
}

// ---- slicing to a uniform level ----------------------------------------------------------------

SliceSpec uniform_level_spec(const ModelConfig& c, const AttnLevel& a, int ffn) {
  auto [q, kv] = a;
  ZIP_CHECK(q >= 0 && kv >= 0 && (q == 0) == (kv == 0) && q >= kv,
            "latency: attention level ({}, {}) is not (query heads ≥ KV heads ≥ 1) or (0, 0)", q, kv);
  SliceSpec spec;
  for (int l = 0; l < c.n_layers(); l++) {
    const LayerShape& s = c.layers[size_t(l)];
    ZIP_CHECK(ffn >= 0 && ffn <= s.ffn_dim, "latency: FFN width {} does not fit layer {} (width {})", ffn, l,
              s.ffn_dim);
    ZIP_CHECK(feasible_attention_levels(s).count(a), "latency: attention level ({}, {}) does not fit layer {} ({} query heads in {} KV groups)",
              q, kv, l, s.n_heads(), s.n_kv_heads());
    if (a == attention_level(s) && ffn == s.ffn_dim) continue;  // kept whole
    // The kv largest groups (ties: lower index), then query heads dealt round-robin.
    std::vector<int> order(static_cast<size_t>(s.n_kv_heads()));
    for (int g = 0; g < s.n_kv_heads(); g++) order[size_t(g)] = g;
    std::stable_sort(order.begin(), order.end(),
                     [&](int x, int y) { return s.q_per_kv[size_t(x)] > s.q_per_kv[size_t(y)]; });
    std::vector<int> groups(order.begin(), order.begin() + kv);
    std::sort(groups.begin(), groups.end());
    std::vector<int> count(groups.size(), 1);
    for (int left = q - kv; left > 0;)
      for (size_t i = 0; i < groups.size() && left > 0; i++)
        if (count[i] < s.q_per_kv[size_t(groups[i])]) count[i]++, left--;
    std::vector<int> first(static_cast<size_t>(s.n_kv_heads()), 0);  // first query head of each group
    for (int g = 1; g < s.n_kv_heads(); g++) first[size_t(g)] = first[size_t(g - 1)] + s.q_per_kv[size_t(g - 1)];
    LayerSlice ls;
    ls.kv_heads = groups;
    std::vector<int> qh;
    for (size_t i = 0; i < groups.size(); i++)
      for (int j = 0; j < count[i]; j++) qh.push_back(first[size_t(groups[i])] + j);
    ls.q_heads = qh;
    for (int n = 0; n < ffn; n++) ls.ffn_neurons.push_back(n);
    spec[l] = std::move(ls);
  }
  return spec;
}

std::vector<double> isotonic_fit(const std::vector<double>& v) {
  // Pool adjacent violators: blocks of (mean, count), merged while a block's mean exceeds the next.
  std::vector<double> mean;
  std::vector<size_t> count;
  for (double x : v) {
    mean.push_back(x), count.push_back(1);
    while (mean.size() > 1 && mean[mean.size() - 2] > mean.back()) {
      const size_t n = mean.size();
      const double c = double(count[n - 2] + count[n - 1]);
      mean[n - 2] = (mean[n - 2] * double(count[n - 2]) + mean[n - 1] * double(count[n - 1])) / c;
      count[n - 2] += count[n - 1];
      mean.pop_back(), count.pop_back();
    }
  }
  std::vector<double> out;
  for (size_t b = 0; b < mean.size(); b++) out.insert(out.end(), count[b], mean[b]);
  return out;
}

// ---- timing ------------------------------------------------------------------------------------

namespace {

// One model in one environment: builds the context (and, for decode, fills the caches once),
// then runs units of work on demand.
class Runner {
 public:
  Runner(const Model& m, Backend& be, const Env& env) : be_(be), env_(env) {
    const ModelConfig& c = m.config;
    decoder_ = c.info().causal;
    if (!decoder_ && env.phase == Phase::Decode)
      throw UsageError(fmt::format("--env {}: {} is an encoder; it has no decode phase (use phase=prefill)",
                                   env_to_string(env), c.info().name));
    int need = env.ctx + (env.phase == Phase::Decode ? 1 : 0);
    if (need > c.max_seq_len)
      throw UsageError(fmt::format("--env {}: needs {} positions; the model's context is {}", env_to_string(env),
                                   need, c.max_seq_len));
    int V = c.vocab_size;
    for (int b = 0; b < env.batch; b++)
      for (int t = 0; t < env.ctx; t++) {
        rows_.push_back(int((int64_t(b) * env.ctx + t + 1) * 7919 % V));
        seqs_.push_back(b);
      }
    for (int b = 0; b < env.batch; b++) {
      step_tok_.push_back(int((int64_t(b) + 3) * 104729 % V));
      step_seq_.push_back(b);
    }
    if (decoder_)
      ctx_ = std::make_unique<InferenceContext>(m, be, need, std::max(512, env.batch), env.batch);
    else
      ctx_ = std::make_unique<InferenceContext>(m, be, env.ctx, 0, 1);
    if (env.phase == Phase::Decode) prefill();
  }

  InferenceContext& ctx() { return *ctx_; }

  // Seconds of one unit of work.
  double unit() {
    be_.sync();
    auto t0 = std::chrono::steady_clock::now();
    if (env_.phase == Phase::Prefill) {
      if (decoder_) {
        ctx_->reset();
        prefill();
      } else {
        for (int b = 0; b < env_.batch; b++) ctx_->encode(rows_.data() + size_t(b) * size_t(env_.ctx), nullptr, env_.ctx);
      }
    } else {
      for (int b = 0; b < env_.batch; b++) ctx_->rewind(env_.ctx, b);
      if (env_.batch == 1)
        ctx_->eval(step_tok_.data(), 1);
      else
        ctx_->eval_batch(step_tok_.data(), step_seq_.data(), env_.batch, false);
    }
    be_.sync();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

 private:
  // All rows, sequence by sequence, in chunks of max_batch (as engine/bench.cpp does).
  void prefill() {
    size_t mb = size_t(ctx_->max_batch());
    for (size_t i = 0; i < rows_.size(); i += mb) {
      int n = int(std::min(rows_.size() - i, mb));
      ctx_->eval_batch(rows_.data() + i, seqs_.data() + i, n, false);
    }
  }

  Backend& be_;
  Env env_;
  bool decoder_ = true;
  std::vector<int> rows_, seqs_, step_tok_, step_seq_;
  std::unique_ptr<InferenceContext> ctx_;
};

double median_of(std::vector<double> v) { return stats_of(std::move(v)).median; }

// Least squares y ≈ X·beta through the normal equations (a handful of columns), XᵀX inverted by
// its Cholesky factor. False when XᵀX is not positive definite (too few distinct levels).
bool least_squares(const std::vector<std::vector<double>>& X, const std::vector<double>& y,
                   std::vector<double>* beta) {
  const int k = X.empty() ? 0 : int(X[0].size());
  std::vector<double> g(size_t(k) * size_t(k), 0.0), xty(size_t(k), 0.0);
  for (size_t r = 0; r < X.size(); r++)
    for (int i = 0; i < k; i++) {
      xty[size_t(i)] += X[r][size_t(i)] * y[r];
      for (int j = 0; j < k; j++) g[size_t(i * k + j)] += X[r][size_t(i)] * X[r][size_t(j)];
    }
  if (k == 0 || !linalg::spd_inverse_small(g.data(), k)) return false;
  beta->assign(size_t(k), 0.0);
  for (int i = 0; i < k; i++)
    for (int j = 0; j < k; j++) (*beta)[size_t(i)] += g[size_t(i * k + j)] * xty[size_t(j)];
  return true;
}

// Makes one column non-decreasing along `chain` (isotonic_fit); returns how many levels moved.
int make_monotone(const std::vector<double*>& chain) {
  std::vector<double> v;
  for (double* p : chain) v.push_back(*p);
  std::vector<double> w = isotonic_fit(v);
  int changed = 0;
  for (size_t i = 0; i < chain.size(); i++) changed += w[i] != *chain[i], *chain[i] = w[i];
  return changed;
}

}  // namespace

nlohmann::json fit_levels(LatencyTable& t) {
  nlohmann::json out;
  // FFN: t = a + b·width over the widths > 0.
  {
    std::vector<std::vector<double>> X;
    std::vector<double> y, beta;
    for (const auto& [w, v] : t.ffn)
      if (w > 0) X.push_back({1.0, double(w)}), y.push_back(v);
    bool ok = X.size() >= 3 && least_squares(X, y, &beta) && beta[1] > 0;
    for (const auto& [w, v] : t.ffn) ok = ok && (w == 0 || beta[0] + beta[1] * w > 0);
    if (ok) {
      for (auto& [w, v] : t.ffn)
        if (w > 0) v = beta[0] + beta[1] * double(w);
      out["ffn"] = {{"fit", "affine"}, {"a", beta[0]}, {"per_neuron", beta[1]}};
    } else {
      std::vector<double*> chain;
      for (auto& [w, v] : t.ffn) chain.push_back(&v);
      out["ffn"] = {{"fit", "monotone"}, {"levels_moved", make_monotone(chain)}};
    }
  }
  // Attention: t = a + b·q + c·kv over the levels with query heads; a + b·q when kv is a function
  // of q (multi-head attention: kv = q at every level), where a kv column would be collinear.
  {
    std::map<int, int> kv_of;
    bool three = false;  // some q measured with two KV head counts
    for (const auto& [a, v] : t.attn)
      if (a.first > 0) three |= !kv_of.emplace(a.first, a.second).second && kv_of[a.first] != a.second;
    std::vector<std::vector<double>> X;
    std::vector<double> y, beta;
    for (const auto& [a, v] : t.attn)
      if (a.first > 0) {
        X.push_back({1.0, double(a.first)});
        if (three) X.back().push_back(double(a.second));
        y.push_back(v);
      }
    bool ok = X.size() > (three ? 3u : 2u) && least_squares(X, y, &beta) && beta[1] > 0 && (!three || beta[2] >= 0);
    auto fitted = [&](const AttnLevel& a) {
      return beta[0] + beta[1] * a.first + (three ? beta[2] * a.second : 0.0);
    };
    for (const auto& [a, v] : t.attn) ok = ok && (a.first == 0 || fitted(a) > 0);
    if (ok) {
      for (auto& [a, v] : t.attn)
        if (a.first > 0) v = fitted(a);
      out["attention"] = {{"fit", "affine"}, {"a", beta[0]}, {"per_q_head", beta[1]}, {"per_kv_head", three ? beta[2] : 0.0}};
    } else {
      std::map<int, std::vector<double*>> by_kv;
      for (auto& [a, v] : t.attn) by_kv[a.second].push_back(&v);  // map order: q ascending within kv
      int moved = 0;
      for (auto& [kv, chain] : by_kv) moved += make_monotone(chain);
      out["attention"] = {{"fit", "monotone"}, {"levels_moved", moved}};
    }
  }
  return out;
}

namespace {

// Median over reps of the per-rep mean over layers of each module's time (seconds). With
// e2e, every instrumented unit is preceded by an uninstrumented one whose time goes to *e2e: the
// dense model's T_dense and its module times then see the same machine conditions.
std::pair<double, double> module_times(Runner& r, int n_layers, const TimingOptions& opt,
                                       std::vector<double>* e2e = nullptr) {
  ModuleTimes mt;
  std::vector<double> a, f;
  for (int rep = 0; rep < opt.warmup + opt.reps; rep++) {
    if (e2e) {
      double t = r.unit();
      if (rep >= opt.warmup) e2e->push_back(t);
    }
    r.ctx().set_timing(&mt);
    mt.reset(n_layers);
    r.unit();
    r.ctx().set_timing(nullptr);
    if (rep < opt.warmup) continue;
    double sa = 0, sf = 0;
    for (int l = 0; l < n_layers; l++) sa += mt.attn_ns[size_t(l)], sf += mt.ffn_ns[size_t(l)];
    a.push_back(sa * 1e-9 / n_layers);
    f.push_back(sf * 1e-9 / n_layers);
  }
  return {median_of(a), median_of(f)};
}

Measurement end_to_end(Runner& r, const TimingOptions& opt) {
  std::vector<double> v;
  for (int rep = 0; rep < opt.warmup + opt.reps; rep++) {
    double t = r.unit();
    if (rep >= opt.warmup) v.push_back(t);
  }
  return stats_of(v);
}

void check_options(const TimingOptions& opt) {
  ZIP_CHECK(opt.warmup >= 0 && opt.reps >= 1, "latency: need warmup ≥ 0 and reps ≥ 1 (got {}, {})", opt.warmup,
            opt.reps);
}

std::string now_utc() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

// Every model is timed with its weights in freshly allocated memory: a model mapped from its
// file and one sliced in memory otherwise run at measurably different speeds (decode of
// SmolLM2-135M: ~1.3x on this machine), which would bias the ratios the search relies on.
static Model in_memory(const Model& m) {
  Model out = m;
  for (auto& [name, t] : out.tensors) t = t.clone();
  return out;
}

// The model as the environment runs it: in fresh memory, and with its float weights quantised
// when the environment names a weight type (a model that has block weights already runs as is).
static Model as_deployed(const Model& m, const Env& env) {
  if (!env.weights || quant::has_block_weights(m)) return in_memory(m);
  Model out = m;
  quant::quantize_model(out, *env.weights, env.threads);
  return in_memory(out);
}

Measurement measure_model(const Model& model, const Env& env, const TimingOptions& opt) {
  check_options(opt);
  check_env(env);
  auto be = make_backend(env.device, env.threads);
  const Model m = as_deployed(model, env);
  Runner r(m, *be, env);
  return end_to_end(r, opt);
}

std::vector<std::pair<size_t, size_t>> pair_levels(size_t n_attn, size_t n_ffn) {
  ZIP_CHECK(n_attn >= 1 && n_ffn >= 1, "latency: no levels to pair");
  const size_t n = std::max(n_attn, n_ffn);
  auto at = [n](size_t i, size_t k) {
    return n == 1 ? size_t(0) : size_t(std::llround(double(i) * double(k - 1) / double(n - 1)));
  };
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t i = 0; i < n; i++) out.push_back({at(i, n_attn), at(i, n_ffn)});
  return out;
}

SpeedupMeasurement measure_speedup(const Model& base_model, const Model& model, const Env& env,
                                   const TimingOptions& opt) {
  check_options(opt);
  check_env(env);
  auto be = make_backend(env.device, env.threads);
  const Model base = as_deployed(base_model, env), m = as_deployed(model, env);
  Runner rb(base, *be, env), rm(m, *be, env);
  for (int i = 0; i < opt.warmup; i++) rb.unit(), rm.unit();
  std::vector<double> tb, tm, ratio;
  // ABBA order: a linear drift within each group of four adds equally to both.
  for (int rep = 0; rep < opt.reps; rep++) {
    if (rep % 2 == 0) {
      tb.push_back(rb.unit()), tm.push_back(rm.unit());
    } else {
      tm.push_back(rm.unit()), tb.push_back(rb.unit());
    }
    ratio.push_back(tb.back() / tm.back());
  }
  SpeedupMeasurement out;
  out.base = stats_of(tb);
  out.model = stats_of(tm);
  // The median of the ratios of adjacent units: a spell of the machine that slows both units of a
  // pair cancels in its ratio, while the ratio of the two medians can pair a fast unit of one
  // model with a slow unit of the other.
  out.speedup = median_of(ratio);
  out.ratios = std::move(ratio);
  return out;
}

LatencyTable measure_latency_table(const Model& dense_model, const Env& env, const std::set<AttnLevel>& attn_levels,
                                   const std::set<int>& ffn_levels, const TimingOptions& opt,
                                   const std::function<void(int, int)>& progress) {
  check_options(opt);
  const Model& dense = dense_model;  // sliced in float; every timed model is as_deployed
  auto start = std::chrono::steady_clock::now();
  const ModelConfig& c = dense.config;
  ZIP_CHECK(c.n_layers() > 0, "latency: the model has no layers");
  // One table serves every layer: measure it on a model whose layers all have one shape.
  for (int l = 1; l < c.n_layers(); l++)
    ZIP_CHECK(attention_level(c.layers[size_t(l)]) == attention_level(c.layers[0]) &&
                  c.layers[size_t(l)].ffn_dim == c.layers[0].ffn_dim,
              "latency: layer {} differs in shape from layer 0; measure the table on the dense (unpruned) model", l);
  std::set<AttnLevel> A = attn_levels;
  std::set<int> F = ffn_levels;
  add_required(c, A, F);
  for (auto& a : A) uniform_level_spec(c, a, 0);  // fail before any timing if a level does not fit
  for (int w : F) uniform_level_spec(c, {0, 0}, w);
  check_env(env);
  auto be = make_backend(env.device, env.threads);

  LatencyTable t;
  t.env = env;
  t.method = opt;
  // Levels largest first (the dense ones lead); sliced model i carries attention level
  // levels_a[pairs[i].first] and FFN width levels_f[pairs[i].second]; model 0 is the dense model.
  const std::vector<AttnLevel> levels_a(A.rbegin(), A.rend());
  const std::vector<int> levels_f(F.rbegin(), F.rend());
  ZIP_CHECK(levels_a.front() == attention_level(c.layers[0]) && levels_f.front() == c.layers[0].ffn_dim,
            "latency: levels above the dense model's");
  const auto pairs = pair_levels(levels_a.size(), levels_f.size());
  const int total = int(pairs.size());
  int done = 0;
  std::map<AttnLevel, std::vector<double>> times_a;
  std::map<int, std::vector<double>> times_f;
  // The dense model stays loaded and brackets every sliced model: kBracket uninstrumented units
  // of it before and after the sliced model's units. The sliced model's module times are scaled by
  // T_dense / (the dense model's median time around them), so a slow or fast spell of a shared
  // machine (other tenants, frequency) does not land on the levels timed during it. The sliced
  // model's own units still run back to back, its caches as warm as in real use.
  constexpr int kBracket = 2;
  const Model dense_run = as_deployed(dense, env);
  Runner rd(dense_run, *be, env);
  {
    std::vector<double> e2e;
    std::tie(t.attn[levels_a[0]], t.ffn[levels_f[0]]) = module_times(rd, c.n_layers(), opt, &e2e);
    t.t_dense = median_of(e2e);
  }
  if (progress) progress(++done, total);
  std::vector<double> scales;
  for (size_t i = 1; i < pairs.size(); i++) {
    const AttnLevel a = levels_a[pairs[i].first];
    const int f = levels_f[pairs[i].second];
    const Model m = as_deployed(slice_model(dense, uniform_level_spec(c, a, f)), env);
    Runner r(m, *be, env);
    std::vector<double> around;
    for (int k = 0; k < kBracket; k++) around.push_back(rd.unit());
    auto [ta, tf] = module_times(r, c.n_layers(), opt);
    for (int k = 0; k < kBracket; k++) around.push_back(rd.unit());
    const double scale = t.t_dense / median_of(around);
    scales.push_back(scale);
    // The dense levels keep their times from the dense model itself.
    if (pairs[i].first != 0) times_a[a].push_back(ta * scale);
    if (pairs[i].second != 0) times_f[f].push_back(tf * scale);
    if (progress) progress(++done, total);
  }
  for (auto& [a, v] : times_a) t.attn[a] = median_of(v);
  for (auto& [f, v] : times_f) t.ffn[f] = median_of(v);
  nlohmann::json measured = {{"attention", nlohmann::json::array()}, {"ffn", nlohmann::json::array()}};
  for (const auto& [a, v] : t.attn) measured["attention"].push_back({a.first, a.second, v});
  for (const auto& [f, v] : t.ffn) measured["ffn"].push_back({f, v});
  nlohmann::json fit = fit_levels(t);
  dense_sum_and_fixed(t, c);
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = 0;
  t.info = {{"date", now_utc()},
            {"host", host},
            {"backend", be->name()},
            {"models_timed", total},
            {"fit", fit},
            {"measured", measured},  // the medians before the fit
            {"bracket_scale", scales.empty() ? nlohmann::json(nullptr)
                                             : nlohmann::json({{"min", *std::min_element(scales.begin(), scales.end())},
                                                               {"median", median_of(scales)},
                                                               {"max", *std::max_element(scales.begin(), scales.end())}})},
            {"wall_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  return t;
}

}  // namespace zip

// The latency table ZipLM optimises against (docs/METHODS.md, docs/LATENCY.md): the time of one
// attention module at every (query heads, KV heads) level and of one FFN at every width,
// measured by this engine *in place* (inside real forward passes of uniformly sliced models) in
// the deployment environment, plus the dense model end to end. T_fixed = T_dense − Σ_l
// t_l(dense) holds what no module accounts for (embedding, final norm, LM head, glue), so the
// dense model predicts exactly T_dense.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/stats.h"
#include "engine/backend.h"
#include "engine/model.h"
#include "compress/slice.h"
#include "engine/quant/quant_mix.h"

namespace zip {

enum class Phase { Prefill, Decode };

// The deployment environment: `cpu:threads=2,batch=1,ctx=256,phase=decode`.
// Prefill: one unit of work = `batch` sequences of `ctx` tokens each, from an empty cache.
// Decode: one unit = one decode step of `batch` sequences, each with `ctx` tokens cached.
struct Env {
  std::string device = "cpu";  // "cpu" or "cuda"
  int threads = 2, batch = 1, ctx = 256;
  Phase phase = Phase::Decode;
  // dtype=q8_0 (any quant mix but f32): every timed model runs with its float weights quantised
  // to this mix first, and the members are written so (docs/COMPRESS.md "quantized runtime").
  // nullopt: the weights run as the model has them.
  std::optional<quant::QuantMix> weights;
  bool operator==(const Env&) const = default;
};

// Device first, then key=value items (threads, batch, ctx, phase, dtype) in any order, all optional.
// Syntax only: unknown keys, repeated keys or bad values throw zip::UsageError (one line).
Env parse_env(const std::string& s);
std::string env_to_string(const Env& e);  // canonical form: the key of a table
nlohmann::json env_to_json(const Env& e);
Env env_from_json(const nlohmann::json& j);  // throws zip::Error on bad fields
const char* phase_name(Phase p);            // "prefill" / "decode"
// UsageError ("--env: ...", one line) when a field is out of range or the device unknown.
void check_env(const Env& e);

struct TimingOptions {
  int warmup = 2;  // untimed units before the timed ones (per model)
  int reps = 7;    // timed units; times are medians over them
};

using AttnLevel = std::pair<int, int>;  // (query heads, KV heads); (0, 0) = module absent
AttnLevel attention_level(const LayerShape& s);  // (n_heads, n_kv_heads) of a layer

struct LatencyTable {
  Env env;
  double t_dense = 0;  // seconds per unit, dense model end to end (not instrumented)
  double t_fixed = 0;  // t_dense − Σ_l (attn(dense_l) + ffn(dense_l))
  std::map<AttnLevel, double> attn;  // seconds per unit, one attention module
  std::map<int, double> ffn;         // seconds per unit, one FFN module, by width
  TimingOptions method;
  nlohmann::json info = nlohmann::json::object();  // optional: date, host, backend, wall_s, model

  // Throw zip::Error naming the level when it is not in the table.
  double attn_time(int q, int kv) const;
  double attn_time(const AttnLevel& a) const { return attn_time(a.first, a.second); }
  double ffn_time(int width) const;
  // t_fixed + Σ_l module times of the given per-layer levels (lists of equal length).
  double predict(const std::vector<AttnLevel>& attn_per_layer, const std::vector<int>& ffn_per_layer) const;
  // The same for a model's per-layer shapes.
  double predict(const ModelConfig& c) const;

  nlohmann::json to_json() const;
  static LatencyTable from_json(const nlohmann::json& j);
  std::string describe() const;  // a few human-readable lines (ms)
};

double predict_time(const LatencyTable& t, const std::vector<AttnLevel>& attn_per_layer,
                    const std::vector<int>& ffn_per_layer);

// Every attention level reachable by removing query heads within KV groups of layer shape `s`
// (a KV head goes when its last query head goes), (0, 0) included; and widths 0..ffn_dim.
std::set<AttnLevel> feasible_attention_levels(const LayerShape& s);

// A made-up table for tests of the pipeline (no timing): attn(q, kv) = attn_base + per_q·q +
// per_kv·kv, ffn(w) = ffn_base + per_neuron·w, absent modules 0; entries for the given levels
// plus every layer's dense level and 0; t_dense = t_fixed + Σ_l dense module times.
struct SyntheticCosts {
  double t_fixed = 1e-3;
  double attn_base = 1e-4, per_q = 2e-5, per_kv = 1e-5;
  double ffn_base = 1e-4, per_neuron = 1e-7;
};
LatencyTable synthetic_latency_table(const ModelConfig& dense, const Env& env, const SyntheticCosts& k,
                                     const std::set<AttnLevel>& attn_levels, const std::set<int>& ffn_levels);

// Which levels share a timed model: with n_attn attention and n_ffn FFN levels, each sorted from
// the largest (index 0, the dense level) down, max(n_attn, n_ffn) models where model i carries
// attention level round(i·(n_attn−1)/(n−1)) and FFN level round(i·(n_ffn−1)/(n−1)). Every level
// of the longer list is timed once, the shorter list's levels repeat, and each module is timed
// beside a neighbour of proportional size, as in a uniformly pruned model. (Pairing with absent
// modules instead, as the first version did, timed small FFNs in attention-free models, ~7 % too
// fast for prefill on SmolLM2: docs/LATENCY.md.)
std::vector<std::pair<size_t, size_t>> pair_levels(size_t n_attn, size_t n_ffn);

// Measures the table for `dense` in `env`; its layers must all have one shape (an unpruned model).
// The requested levels are extended with (0, 0), width 0 and the dense level. Each level is timed
// in a model sliced uniformly to it (pair_levels: one attention level and one FFN level per sliced
// model; a level timed in several models gets the median); the dense levels in the dense model itself. progress(done, total) is called after each model timed
// (the dense model counts as one). UsageError: env unusable for this model (ctx too long, decode
// on an encoder, cuda without GPU).
LatencyTable measure_latency_table(const Model& dense, const Env& env, const std::set<AttnLevel>& attn_levels,
                                   const std::set<int>& ffn_levels, const TimingOptions& opt,
                                   const std::function<void(int, int)>& progress = {});

// The least-squares non-decreasing fit of v (pool adjacent violators): the fallback of
// fit_levels for a column whose affine fit fails (FFN times by width, attention times by query
// heads per KV count).
std::vector<double> isotonic_fit(const std::vector<double>& v);

// Replaces the measured times of the present levels (q > 0, width > 0) with their least-squares
// affine fit: FFN t = a + b·width; attention t = a + b·q + c·kv (a + b·q when kv follows q, as in
// multi-head attention). A module's work is affine in its width (one matrix row or column per
// neuron, per head), so the scatter around the line is noise, and the DP seeks out every level
// that noise made cheap: with levels pooled only to be monotone, ZipLM chose the top of each flat
// step and its members ran 11–17 % slower than predicted (docs/LATENCY.md). A column whose fit
// has a non-positive slope or a non-positive time (too few or too odd levels) is made monotone
// instead. Absent levels (0) keep their measured time. Returns what was fitted, per column.
nlohmann::json fit_levels(LatencyTable& t);

using Measurement = RepStats;  // seconds per unit of work: median, min, max over the reps
// Any model end to end in `env`: the same unit of work, warm-up and reps as t_dense.
Measurement measure_model(const Model& m, const Env& env, const TimingOptions& opt);

// `m` against `base` (the dense model) in `env`: the two are timed in alternation (base, m, m,
// base, ...) after both warm up, so that a shared machine's drifts in speed reach both alike;
// speedup = the median over reps of the ratio of the two adjacent units (base / m). Each gets
// opt.reps timed units; their medians are kept for the record.
struct SpeedupMeasurement {
  Measurement base, model;
  double speedup = 0;
  std::vector<double> ratios;  // base / m per repetition (their scatter: compress/timing_spread.h)
};
SpeedupMeasurement measure_speedup(const Model& base, const Model& m, const Env& env, const TimingOptions& opt);

// The uniform slice giving every layer of `c` attention level `a` and FFN width `ffn`: the first
// KV groups (largest first), query heads spread as evenly as the groups allow, the first neurons.
SliceSpec uniform_level_spec(const ModelConfig& c, const AttnLevel& a, int ffn);

}  // namespace zip

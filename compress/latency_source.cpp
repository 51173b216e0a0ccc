#include "compress/latency_source.h"

#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "compress/stitch.h"
#include "compress/timing_spread.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "base/stopwatch.h"

namespace zip {

namespace {

class EngineLatency : public LatencySource {
 public:
  EngineLatency(Env env, TimingOptions opt) : env_(std::move(env)), opt_(opt) {}
  LatencyTable table(const Model& dense, const std::set<AttnLevel>& attn, const std::set<int>& ffn,
                     const std::function<void(int, int)>& progress) override {
    return measure_latency_table(dense, env_, attn, ffn, opt_, progress);
  }
  double measure(const Model& m) override { return measure_model(m, env_, opt_).median; }
  // In alternation, with twice the table's repetitions: the guarantee rests on this ratio.
  PairTiming measure_pair(const Model& dense, const Model& m) override {
    TimingOptions o = opt_;
    o.reps = 2 * opt_.reps + 1;
    SpeedupMeasurement s = measure_speedup(dense, m, env_, o);
    PairTiming p;
    // The member's time in the dense median's conditions: dense / member = the paired speedup.
    p.dense_s = s.base.median, p.model_s = s.base.median / s.speedup;
    p.spread = relative_iqr(s.ratios), p.reps = o.reps;
    return p;
  }

 private:
  Env env_;
  TimingOptions opt_;
};

class SyntheticLatency : public LatencySource {
 public:
  SyntheticLatency(SyntheticCosts k, SyntheticTiming t) : k_(k), t_(std::move(t)) {}
  LatencyTable table(const Model& dense, const std::set<AttnLevel>& attn, const std::set<int>& ffn,
                     const std::function<void(int, int)>&) override {
    table_ = synthetic_latency_table(dense.config, Env{}, k_, attn, ffn);
    dense_ = dense.config;
    return table_;
  }
  void use_table(const LatencyTable& t) override { table_ = t; }
  double measure(const Model& m) override {
    double t = table_.predict(m.config);
    if (m.config == dense_) return t;
    t = table_.t_fixed + (t - table_.t_fixed) * t_.skew;
    return t_.max_speedup > 0 ? std::max(t, table_.t_dense / t_.max_speedup) : t;
  }
  PairTiming measure_pair(const Model& dense, const Model& m) override {
    dense_ = dense.config;
    PairTiming p = LatencySource::measure_pair(dense, m);
    if (pairs_ < t_.spreads.size()) p.spread = t_.spreads[pairs_];
    pairs_++;
    return p;
  }

 private:
  SyntheticCosts k_;
  SyntheticTiming t_;
  LatencyTable table_;
  ModelConfig dense_;
  size_t pairs_ = 0;
};

// The cached table if it can stand for a fresh one (see time_levels); the dense model's time is
// recorded in `out` when it was measured.
bool reuse_cached(const Model& dense, const std::set<AttnLevel>& attn, const std::set<int>& ffn, LatencySource& source,
                  const Env& env, const std::string& cache, const std::function<void(const std::string&)>& log,
                  TimedTable& out) {
  if (cache.empty() || !file_exists(cache)) return false;
  try {
    LatencyTable t = LatencyTable::from_json(nlohmann::json::parse(read_file(cache)));
    bool covers = t.env == env;
    for (const AttnLevel& a : attn) covers &= t.attn.count(a) != 0;
    for (int w : ffn) covers &= t.ffn.count(w) != 0;
    if (!covers) return false;
    // A table timed while the machine ran at another speed (a shared VM's slow spell, another
    // clock) also has other proportions between modules and the fixed part: on this VM a table
    // from a 1.8x slower spell over-predicted every member's speedup by 20 %.
    out.dense_measured = source.measure(dense);
    const double drift = t.t_dense / out.dense_measured;
    if (fixed_part_suspect(t)) {
      log("latency table: the cached one has T_fixed < -2 % of T_dense: timing it again");
    } else if (drift < kTableDriftLow || drift > kTableDriftHigh) {
      log(fmt::format("latency table: the cached one was timed at {:.2f} ms per unit, the dense model takes "
                      "{:.2f} ms now: timing it again",
                      t.t_dense * 1e3, out.dense_measured * 1e3));
    } else {
      out.table = t;
      log(fmt::format("latency table: reused {}", cache));
      return true;
    }
  } catch (const std::exception&) {
  }  // damaged: timed again
  return false;
}

}  // namespace

std::unique_ptr<LatencySource> engine_latency(const Env& env, const TimingOptions& opt) {
  return std::make_unique<EngineLatency>(env, opt);
}
std::unique_ptr<LatencySource> synthetic_latency(const SyntheticCosts& costs, double skew) {
  SyntheticTiming t;
  t.skew = skew;
  return std::make_unique<SyntheticLatency>(costs, t);
}
std::unique_ptr<LatencySource> synthetic_latency(const SyntheticCosts& costs, const SyntheticTiming& timing) {
  return std::make_unique<SyntheticLatency>(costs, timing);
}

std::shared_ptr<LatencySource> synthetic_latency_from_env() {
  const char* v = std::getenv("ZIP_COMPRESS_SYNTHETIC");
  if (!v) return nullptr;
  SyntheticCosts k;  // proportions like SmolLM2's decode table (the tests' realistic costs)
  k.t_fixed = 2e-4, k.attn_base = 2e-5, k.per_q = 1e-5, k.per_kv = 5e-6, k.ffn_base = 2e-5, k.per_neuron = 5e-7;
  SyntheticTiming t;
  auto number = [](const std::string& s) {
    char* end = nullptr;
    double x = std::strtod(s.c_str(), &end);
    ZIP_CHECK(!s.empty() && *end == '\0' && std::isfinite(x), "ZIP_COMPRESS_SYNTHETIC: '{}' is not a number", s);
    return x;
  };
  std::stringstream items(v);
  for (std::string item; std::getline(items, item, ',');) {
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq), value = eq == std::string::npos ? "" : item.substr(eq + 1);
    if (key == "skew") t.skew = number(value);
    else if (key == "max") t.max_speedup = number(value);
    else if (key == "spreads") {
      std::stringstream s(value);
      for (std::string x; std::getline(s, x, '/');) t.spreads.push_back(number(x));
    } else if (!key.empty()) fail("ZIP_COMPRESS_SYNTHETIC: unknown item '{}' (skew, max, spreads)", printable(key));
  }
  return std::make_shared<SyntheticLatency>(k, t);
}

void add_ranking_levels(const Model& dense, const Ranking& r, std::set<AttnLevel>& attn, std::set<int>& ffn) {
  for (int l = 0; l < dense.config.n_layers(); l++) {
    const LayerShape& s = dense.config.layers[size_t(l)];
    for (const auto& k : r.levels({l, ModuleKind::Attention}).kept) attn.insert(attention_shape(s, k));
    for (const auto& k : r.levels({l, ModuleKind::Ffn}).kept) ffn.insert(int(k.size()));
  }
}

bool fixed_part_suspect(const LatencyTable& t) { return t.t_fixed < -0.02 * t.t_dense; }

std::string latency_cache_path(const std::string& db_root, const std::string& model_hash, const Env& env,
                               const TimingOptions& timing) {
  std::string e = env_to_string(env);
  for (char& ch : e)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return fmt::format("{}/{}/latency-v7-{}-w{}-r{}.json", db_root, model_hash, e, timing.warmup, timing.reps);
}

TimedTable time_levels(const Model& dense, const std::set<AttnLevel>& attn, const std::set<int>& ffn,
                       LatencySource& source, const Env& env, const std::string& cache_path,
                       const std::function<void(const std::string&)>& log,
                       const std::function<void(int, int)>& progress) {
  TimedTable out;
  if (reuse_cached(dense, attn, ffn, source, env, cache_path, log, out)) return out;
  for (int attempt = 1;; attempt++) {
    auto t0 = std::chrono::steady_clock::now();
    out.table = source.table(dense, attn, ffn, progress);
    const LatencyTable& t = out.table;
    log(fmt::format("latency table: {} attention and {} FFN levels timed in {:.1f} s; T_dense {:.3f} ms, T_fixed {:.3f} ms{}",
                    t.attn.size(), t.ffn.size(), seconds_since(t0), t.t_dense * 1e3, t.t_fixed * 1e3,
                    fixed_part_suspect(t) ? " (below -2 % of T_dense: the machine's speed moved while timing)" : ""));
    if (!fixed_part_suspect(t) || attempt == 2) break;
  }
  if (!cache_path.empty() && !fixed_part_suspect(out.table)) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(cache_path).parent_path(), ec);
    write_file_atomic(cache_path, out.table.to_json().dump(1));
  }
  return out;
}

}  // namespace zip

#include "compress/latency_source.h"

#include <cctype>
#include <chrono>
#include <filesystem>

#include "compress/stitch.h"
#include "engine/error.h"
#include "engine/file_io.h"

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
  std::pair<double, double> measure_pair(const Model& dense, const Model& m) override {
    TimingOptions o = opt_;
    o.reps = 2 * opt_.reps + 1;
    SpeedupMeasurement s = measure_speedup(dense, m, env_, o);
    // The member's time in the dense median's conditions: dense / member = the paired speedup.
    return {s.base.median, s.base.median / s.speedup};
  }

 private:
  Env env_;
  TimingOptions opt_;
};

class SyntheticLatency : public LatencySource {
 public:
  SyntheticLatency(SyntheticCosts k, double skew) : k_(k), skew_(skew) {}
  LatencyTable table(const Model& dense, const std::set<AttnLevel>& attn, const std::set<int>& ffn,
                     const std::function<void(int, int)>&) override {
    table_ = synthetic_latency_table(dense.config, Env{}, k_, attn, ffn);
    dense_ = dense.config;
    return table_;
  }
  double measure(const Model& m) override {
    double t = table_.predict(m.config);
    return m.config == dense_ ? t : table_.t_fixed + (t - table_.t_fixed) * skew_;
  }

 private:
  SyntheticCosts k_;
  double skew_;
  LatencyTable table_;
  ModelConfig dense_;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

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
  return std::make_unique<SyntheticLatency>(costs, skew);
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

// `zip compress`: the pruning pipeline — calibrate → score (database) → time (latency table) →
// choose shapes (search) → stitch → re-measure — producing one model per speedup target and a
// report. ZipLM and its baselines fill the same pipeline; Minitron and gradual pruning reuse it.
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/model.h"
#include "compress/calibration.h"
#include "compress/latency.h"

namespace zip {

// How a family member is pruned. ZipLM = OBS ranking + update + runtime-aware search; the
// baselines change one ingredient each, through the same latency table and guarantee.
enum class PruneMethod { ZipLM, ZipLMNoUpdate, Magnitude, Uniform };
const char* prune_method_name(PruneMethod m);          // "ziplm", "ziplm-no-update", "magnitude", "uniform"
PruneMethod parse_prune_method(const std::string& s);  // throws UsageError

// Where latencies come from: the engine in the deployment environment, or (tests) a fixed table.
struct LatencySource {
  virtual ~LatencySource() = default;
  virtual LatencyTable table(const Model& dense, const std::set<AttnLevel>& attn, const std::set<int>& ffn,
                             const std::function<void(int, int)>& progress) = 0;
  virtual double measure(const Model& m) = 0;  // seconds per unit of work, end to end
  // {dense, m} seconds per unit, timed side by side (the guarantee's speedup is their ratio).
  virtual std::pair<double, double> measure_pair(const Model& dense, const Model& m) {
    double d = measure(dense);
    return {d, measure(m)};
  }
};
std::unique_ptr<LatencySource> engine_latency(const Env& env, const TimingOptions& opt);
// Synthetic: measure() = the table's prediction × `skew` for pruned models (dense exact), so
// tests can exercise the re-measurement correction.
std::unique_ptr<LatencySource> synthetic_latency(const SyntheticCosts& costs, double skew = 1.0);

struct CompressOptions {
  std::vector<PruneMethod> methods = {PruneMethod::ZipLM};  // the first is the main one
  std::vector<double> targets;
  Env env;
  CalibOptions calib;
  std::vector<std::string> calib_paths;
  std::string out_dir;
  std::string db_root;  // "" = OUT_DIR/.db, removed after success
  std::string eval_file;  // decoders: text for perplexity; encoders: STS-B pairs
  int64_t eval_tokens = 65536;
  int eval_ctx = 512;
  int ffn_step = 32, block = 32;
  double damp = 0.01;
  bool token_error = true;  // level errors: mean per-token relative error (false: the paper's ratio of sums, docs/METHODS.md)
  int evaluations = 30;  // SPDY loss evaluations per target
  // Centre the search on per-module loss sensitivities measured by one probe per module
  // (compress/sensitivity.h) instead of c = 1; probes put the module at the level nearest this density.
  bool sensitivity = true;
  double probe_density = 0.5;
  int probe_windows = 4;  // the first of the search windows the probes run on
  // The search centre is median(c⁰)^(1−α)·c⁰^α: α = 1 trusts the probes fully, α < 1 shrinks
  // them toward a common value (a hedge when the calibration text is unlike the deployment's).
  double probe_shrink = 1.0;
  // What the search judges candidates by on the held-out windows (and the probes measure):
  // decoders "kl" (KL(dense ‖ candidate), the default) or "nll" (next-token NLL); encoders
  // "pooled" (1 − cos of the sentence embedding per window: the default for models that pool)
  // or "tokens" (1 − cos of the final hidden states per token: the default otherwise).
  // "" picks the default for the model.
  std::string search_loss;
  int search_windows = 8;  // held-out windows the search loss runs on
  uint64_t seed = 1;
  // Budgets aim at target × aim. The default is the band's middle (≈ its geometric centre,
  // 1.033): a re-measurement off by a few percent either way still lands in [0.97, 1.10].
  double aim = 1.03;
  int max_rounds = 4;      // re-measurement corrections per target
  TimingOptions timing;
  int threads = 2;         // calibration, database and loss evaluations
  std::shared_ptr<LatencySource> latency;  // null = engine_latency(env, timing)
  nlohmann::json recipe;   // non-null: replay these members instead of searching
  std::function<void(const std::string&)> log;  // one line per event (stderr in the CLI)
};

// The guarantee: a member counts as meeting its target when measured/target lies in this band.
inline constexpr double kBandLow = 0.97, kBandHigh = 1.10;
inline bool outside_band(double ratio) { return !(ratio >= kBandLow && ratio <= kBandHigh); }
// A member in band but further than this from the aim (measured/target) is searched once more
// with its budget corrected, so that it does not give away accuracy for speed nobody asked for.
inline constexpr double kAimTolerance = 0.02;

// Runs the pipeline on the model file `model_path`; writes OUT_DIR/<method>-<target>x.zlm,
// report.json, report.md, report.svg; returns the report.
nlohmann::json compress_family(const std::string& model_path, const CompressOptions& opt);

}  // namespace zip

// Everything `zip compress` can be asked, with every default in one place: the CLI only maps
// flags onto CompressOptions (and WindowRequest for the defaults that depend on the model),
// and --recipe's report is read here.
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "compress/calibration.h"
#include "compress/latency.h"
#include "engine/dtype.h"
#include "engine/train/train_ops.h"

namespace zip {

// How a family member is pruned. ZipLM = OBS ranking + update + runtime-aware search; the
// baselines change one ingredient each, through the same latency table and guarantee.
// Minitron (compress/minitron_run.h): activation importance, uniform shapes, an architecture
// search ranked by short distillation; its own driver, not a Ranking. The combinations (SPEC
// §6.3): Importance = Minitron's activation importance orders the structures, the kept columns
// get the OBS update, ZipLM's runtime-aware search picks per-layer levels; ImportanceNoUpdate the
// same without the update.
enum class PruneMethod { ZipLM, ZipLMNoUpdate, Magnitude, Uniform, Minitron, Importance, ImportanceNoUpdate };
// "ziplm", "ziplm-no-update", "magnitude", "uniform", "minitron", "importance", "importance-no-update"
const char* prune_method_name(PruneMethod m);
PruneMethod parse_prune_method(const std::string& s);  // throws UsageError
// How the search chooses one level per module from a ranking: the runtime-aware DP + SPDY
// search, or the common density that fits the budget (the uniform baseline).
enum class SearchStrategy { Spdy, Uniform };
SearchStrategy search_strategy(PruneMethod m);

struct LatencySource;  // compress/latency_source.h

struct CompressOptions {
  std::vector<PruneMethod> methods = {PruneMethod::ZipLM};  // the first is the main one
  std::vector<double> targets;
  Env env;  // the deployment environment the members are timed in (and must meet their targets in)
  CalibOptions calib;
  std::vector<std::string> calib_paths;
  std::string out_dir;
  std::string db_root;  // "" = OUT_DIR/.db
  bool keep_db = false;  // keep the database at the end (else it is removed once the run is complete)
  // The members' weight type; nullopt: the parent's (norms and biases stay f32). The dense model
  // is converted before anything is measured, so the table and the guarantee time that type.
  std::optional<DType> dtype;
  // Continue the run OUT_DIR/run-state.json records (compress/run_state.h); without it an
  // unfinished run there is refused rather than overwritten.
  bool resume = false;
  // Called after each member is finished and recorded (tests: a kill between members).
  std::function<void(int)> after_member;
  // Distillation of every member from the dense model once it is stitched and in band
  // (compress/distill_member.h): tokens per member (each --gradual step, intermediate ones
  // included, gets this many); 0 = none.
  int64_t distill_tokens = 0;
  std::string distill_data;   // tokens.bin (zip distill --data's format); "": the calibration windows
  double distill_lr = 0;      // peak learning rate; 0: distill/distill_defaults.h's for the model
  int distill_batch = 8;      // sequences per step
  int distill_seq = 0;        // tokens per sequence; 0: min(256, the model's context)
  int distill_ckpt_every = 200;  // steps between KD checkpoints (a killed run resumes from the last)
  // Precision of the distillation's matrix products (docs/TRAINING.md, "Mixed precision"); the
  // members are written in their own weight type either way.
  train::Precision distill_precision = train::Precision::f32;
  // Gradual mode (docs/METHODS.md §2.8): targets in increasing order, each member pruned from the
  // previous (distilled) member with its database rebuilt on it; `gradual_steps` intermediate
  // targets (geometric) between consecutive targets, each also an output.
  bool gradual = false;
  int gradual_steps = 0;
  // Called after each KD optimizer step (member index, steps done; tests: a kill mid-distillation).
  std::function<void(int, int)> after_distill_step;
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
  // "" picks the default for the model (resolve_search_loss).
  std::string search_loss;
  int search_windows = 8;  // held-out windows the search loss runs on
  uint64_t seed = 1;
  // Budgets aim at target × aim. The default is the band's middle (≈ its geometric centre,
  // 1.033): a re-measurement off by a few percent either way still lands in [0.97, 1.10].
  double aim = 1.03;
  int max_rounds = 4;      // re-measurement corrections per target
  TimingOptions timing;
  // Threads of the host-side work: calibration statistics, the database, loss evaluations.
  // The CLI defaults it to env.threads.
  int threads = 2;
  std::shared_ptr<LatencySource> latency;  // null = engine_latency(env, timing)
  nlohmann::json recipe;   // non-null: replay these members instead of searching
  // --method minitron (docs/COMPRESS.md): a budget by parameters instead of speedup targets
  // (fraction of the dense model's, in (0, 1)); the hidden-size grid (0: dim/8 rounded down to a
  // multiple of 8, at least 8); the architecture search: at most nas_probe candidates scored
  // one-shot, the nas_candidates best of them distilled nas_steps steps each; the winner then
  // distilled on distill_tokens tokens (0: it keeps its short distillation) of distill_data (a
  // tokens.bin; "": the calibration's training windows), peak LR distill_lr (0: 0.1 / dim, at
  // most 1e-3), distill_batch sequences of distill_seq tokens a step (0: the calibration window length).
  std::optional<double> params_fraction;
  int dim_step = 0;
  int nas_probe = 32, nas_candidates = 4, nas_steps = 200;
  // ZipLM's OBS update after Minitron's slicing (METHODS.md §5.1): every candidate's W_O and W_2
  // refit over their kept columns on the dense model's calibration Hessians (damp above).
  bool obs_update = false;
  // (distill_tokens, distill_data, distill_lr, distill_batch, distill_seq: the fields above.)
  std::function<void(int)> after_kd;  // called after each short distillation is recorded (tests: a kill mid-search)
  std::function<void(const std::string&)> log;  // one line per event (stderr in the CLI)
};

// The window options as asked (nullopt: not asked). Their defaults depend on the model (sentence
// windows for encoders that pool) and on each other: window counts default to fixed token counts,
// so a window length alone changes how the text is cut, not how much of it is seen.
struct WindowRequest {
  std::optional<bool> sentences;
  std::optional<int> len, samples, heldout, search_windows, probe_windows;
  std::optional<int> search_len;  // asked: the search windows are drawn apart, this long
  bool search_by_folder = false;  // also draws them apart
};
inline constexpr int kCalibTokens = 32768, kSearchTokens = 2048, kProbeTokens = 1024, kMinHeldout = 16;
// Fills o.calib (sentences, len, samples, heldout, search, search_len, search_by_folder),
// o.search_windows and o.probe_windows for a model shaped `c`.
void resolve_windows(CompressOptions& o, const ModelConfig& c, const WindowRequest& w);

// The search loss for this model: `asked` if it fits the model, its default when empty;
// UsageError when it does not apply.
std::string resolve_search_loss(const ModelConfig& c, const std::string& asked);

// --recipe: the report of an earlier run (JSON text, `path` for messages); o then rebuilds its
// members: calibration, database options and methods from the report (calib_paths only when o has
// none), targets unused.
void apply_recipe(CompressOptions& o, const std::string& report_text, const std::string& path);

// The checks compress_family makes before any work (UsageError / zip::Error, one line).
void check_options(const CompressOptions& o);

}  // namespace zip

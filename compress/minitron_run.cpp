#include "compress/minitron_run.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "compress/band.h"
#include "compress/minitron_report.h"
#include "compress/minitron_search.h"
#include "compress/report.h"
#include "compress/run.h"
#include "compress/run_state.h"
#include "compress/slice_refit.h"
#include "compress/stage_clock.h"
#include "compress/timing_spread.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/quant/quantize_model.h"
#include "engine/zlm.h"
#include "base/stopwatch.h"

namespace zip {

namespace fs = std::filesystem;

int minitron_dim_step(const CompressOptions& o, int dim);

namespace {

std::vector<MinitronBudget> budgets_of(const CompressOptions& o) {
  std::vector<MinitronBudget> out;
  if (o.params_fraction) out.push_back({std::nullopt, o.params_fraction});
  for (double t : o.targets) out.push_back({t, std::nullopt});
  return out;
}

KdRun short_kd(const CompressRun& r) {
  KdRun k;
  k.steps = r.opt.nas_steps, k.batch = r.opt.distill_batch;
  k.seq = std::min(r.opt.distill_seq > 0 ? r.opt.distill_seq : r.opt.calib.len, r.dense.config.max_seq_len - 1);
  k.lr = r.opt.distill_lr, k.seed = r.opt.seed, k.threads = r.opt.threads, k.precision = r.opt.distill_precision;
  return k;
}

int final_kd_steps(const CompressRun& r, const KdRun& k) {
  const int64_t per_step = int64_t(k.batch) * k.seq;
  return r.opt.distill_tokens > 0 ? int((r.opt.distill_tokens + per_step - 1) / per_step) : 0;
}

bool is_encoder(const CompressRun& r) { return !r.dense.config.info().causal; }

nlohmann::json header_of(const CompressRun& r) {
  const CompressOptions& o = r.opt;
  const KdRun k = short_kd(r);
  const nlohmann::json dim_step = is_encoder(r) ? nlohmann::json("fixed (encoder)") : nlohmann::json(minitron_dim_step(o, r.dense.config.dim));
  nlohmann::json h = {{"model", r.model_path},
          {"parent_hash", r.model_hash},
          {"method", "minitron"},
          {"architecture", r.dense.config.info().name},
          {"env", env_to_string(o.env)},
          {"calibration",
           {{"files", r.calib.files.size()}, {"paths", r.calib.files}, {"samples", o.calib.samples}, {"len", o.calib.len},
            {"heldout_samples", o.calib.heldout}, {"search_windows", o.search_windows}, {"seed", o.calib.seed},
            {"key", r.calib.key}}},
          {"options",
           {{"ffn_step", o.ffn_step}, {"dim_step", dim_step},
            {"nas_probe", o.nas_probe}, {"nas_candidates", o.nas_candidates}, {"nas_steps", o.nas_steps},
            {"distill_tokens", o.distill_tokens}, {"distill_data", o.distill_data}, {"distill_lr", o.distill_lr},
            {"kd_batch", k.batch}, {"kd_seq", k.seq}, {"kd_precision", train::precision_name(k.precision)}, {"aim", o.aim}, {"seed", o.seed},
            {"obs_update", o.obs_update}, {"damp", o.damp}}}};
  if (is_encoder(r)) h["search_loss"] = r.search_loss;  // what the candidate table's scores are
  return h;
}

nlohmann::json command_of(const CompressRun& r, const nlohmann::json& header) {
  nlohmann::json c = header;
  c["targets"] = r.opt.targets;
  c["params"] = r.opt.params_fraction ? nlohmann::json(*r.opt.params_fraction) : nlohmann::json();
  c["timing"] = {{"warmup", r.opt.timing.warmup}, {"reps", r.opt.timing.reps}, {"max_rounds", r.opt.max_rounds}};
  c["threads"] = r.opt.threads;
  c["eval"] = {{"file", r.opt.eval_file}, {"tokens", r.opt.eval_tokens}, {"ctx", r.opt.eval_ctx}};
  c["latency_source"] = r.opt.latency ? "given by the caller" : "engine";
  return c;
}

std::optional<RunState> previous_run(const CompressOptions& o) {
  std::optional<RunState> prev = load_run_state(o.out_dir);
  if (!o.resume) {
    if (prev && !prev->complete)
      throw UsageError(fmt::format("{} holds an unfinished compress run: add --resume to continue it, or choose another -o",
                                   printable(o.out_dir)));
    return std::nullopt;
  }
  return prev;
}

nlohmann::json dense_row(CompressRun& r, const std::optional<UniformLatency>& lat) {
  nlohmann::json d = {{"params", weight_count(r.dense)}, {"calib_loss", r.heldout->dense_loss()}};
  if (lat) d["time_s"] = lat->table.t_dense, d["time_from"] = "latency table (T_dense)";
  if (r.unseen) d["unseen_loss"] = r.unseen->dense_loss();
  const EvalResult e = evaluate(r.opt, r.dense);
  if (e.ppl) d["ppl"] = *e.ppl, d["eval_tokens"] = *e.eval_tokens;
  if (e.spearman) d["spearman"] = *e.spearman, d["eval_pairs"] = *e.eval_pairs;
  return d;
}

std::string file_name(const MinitronBudget& b, bool failed) {
  return b.speedup ? member_file_name("minitron", *b.speedup, failed) : fmt::format("minitron-{}.zlm", b.label());
}

// The search's context for one run (importance, axes, latency, corpus) and the run state.
struct MinitronContext {
  CompressRun& r;
  const minitron::Importance& imp;
  const minitron::ShapeAxes& axes;
  const std::optional<UniformLatency>& lat;
  const distill::TokenData& corpus;
  RunState& st;
};

// Re-measures the member until it lands in band (at most max_rounds timings): its rounds.
void measure_member(MinitronContext& c, const MinitronBudget& b, const CandidateRow& row, const Model& m, MemberReport& mem) {
  CompressRun& r = c.r;
  const double target = *b.speedup;
  const double predicted = c.lat->predict(r.dense.config, row.shape);
  mem.predicted_speedup = c.lat->table.t_dense / predicted;
  size_t best = 0;
  for (int round = 0; round < std::max(1, r.opt.max_rounds); round++) {
    const PairTiming p = measure_pair_trusted(*r.latency, r.dense, m, "minitron " + b.label(), [&r](const std::string& s) { r.log(s); });
    RoundRecord rr;
    rr.budget_s = predicted, rr.predicted_s = predicted, rr.measured_s = p.model_s, rr.dense_measured_s = p.dense_s;
    rr.speedup = p.dense_s / p.model_s, rr.table_scale = *mem.predicted_speedup / rr.speedup;
    rr.spread = p.spread, rr.reps = p.reps, rr.timings = p.timings;
    mem.round_log.push_back(rr);
    if (band_distance(rr.speedup / target) < band_distance(mem.round_log[best].speedup / target)) best = mem.round_log.size() - 1;
    if (!outside_band(rr.speedup / target)) break;
  }
  const RoundRecord& chosen = mem.round_log[best];
  mem.rounds = int(mem.round_log.size());
  mem.measured_speedup = chosen.speedup, mem.measured_s = chosen.measured_s, mem.dense_measured_s = chosen.dense_measured_s;
  mem.timing_spread = chosen.spread;
  mem.guarantee_met = !outside_band(chosen.speedup / target);
  if (!*mem.guarantee_met)
    mem.failure = fmt::format("measured {:.3f}x = {:.3f} x target after {} round{}, outside [{}, {}]", chosen.speedup,
                              chosen.speedup / target, *mem.rounds, *mem.rounds == 1 ? "" : "s", kBandLow, kBandHigh);
}

// The winner distilled on --distill-tokens (checkpointed), else its short distillation.
Model final_model(MinitronContext& c, const MinitronBudget& b, MinitronSearch& s, int best, const CandidateRow& row, nlohmann::json& kd) {
  CompressRun& r = c.r;
  KdRun k = kd_for_shape(r, c.imp, row.shape, s.kd);
  const int steps = final_kd_steps(r, k);
  kd = {{"nas_steps", k.steps}, {"batch", k.batch}, {"seq", k.seq}, {"peak_lr", kd_peak_lr(k, r.dense)},
        {"hidden_cosine", kd_uses_hidden_loss(r.dense.config, minitron::uniform_config(r.dense.config, row.shape))},
        {"data", r.opt.distill_data.empty() ? "calibration training windows" : r.opt.distill_data},
        {"corpus_tokens", c.corpus.n_tokens()}};
  if (is_encoder(r)) {
    kd["hidden_cosine"] = true;
    kd["loss"] = "cos loss of the last layer's token outputs + alpha * cos loss per layer output (student layer -> the dense layer it was kept from)";
    kd["layer_map"] = k.layer_map;
  }
  if (steps > 0) {
    k.steps = steps;
    k.label = fmt::format("minitron {}: KD", b.label());
    k.ckpt_dir = (fs::path(r.opt.out_dir) / ".minitron-kd" / b.label()).string();
    k.resume = r.opt.resume;
    kd["final_steps"] = steps, kd["final_tokens"] = int64_t(steps) * k.batch * k.seq;
    Model m = distill_candidate(r.dense, prune_candidate(r, c.imp, row.shape), c.corpus, k);
    std::error_code ec;
    fs::remove_all(k.ckpt_dir, ec);
    return m;
  }
  kd["final_steps"] = 0;
  if (s.best && int(s.best->first) == best) return std::move(s.best->second);
  if (k.steps == 0) return prune_candidate(r, c.imp, row.shape);
  k.label = fmt::format("minitron {}: short KD of the winner again", b.label());
  return distill_candidate(r.dense, prune_candidate(r, c.imp, row.shape), c.corpus, k);
}

MemberReport build_member(MinitronContext& c, const MinitronBudget& b, const std::optional<RunState>& previous) {
  CompressRun& r = c.r;
  auto t0 = std::chrono::steady_clock::now();
  const std::string stage = "minitron_candidates " + b.label();
  std::vector<CandidateRow> done;
  if (previous && previous->stages.contains(stage))
    for (const auto& j : previous->stages[stage]) done.push_back(CandidateRow::from_json(j));
  MinitronSearch s{r, c.imp, c.axes, c.lat ? &*c.lat : nullptr, c.corpus, short_kd(r), [&](const std::vector<CandidateRow>& rows) {
                     nlohmann::json j = nlohmann::json::array();
                     for (const CandidateRow& row : rows) j.push_back(row.to_json());
                     c.st.stages[stage] = j;
                     save_run_state(r.opt.out_dir, c.st);
                   }};
  const std::vector<CandidateRow> rows = search_architecture(s, b, std::move(done));
  MemberReport mem;
  mem.method = "minitron", mem.target = b.speedup.value_or(0), mem.db_method = "minitron";
  nlohmann::json table = nlohmann::json::array();
  for (const CandidateRow& row : rows) table.push_back(row.to_json());
  mem.extra["candidates"] = table;
  if (b.params_fraction) mem.extra["budget"] = {{"params_fraction", *b.params_fraction}};
  const int best = best_candidate(rows);
  if (best < 0) {
    r.log(fmt::format("minitron {}: no candidate within ±5 % of the budget", b.label()));
    return mem;
  }
  mem.feasible = true;
  const CandidateRow& row = rows[size_t(best)];
  mem.extra["shape"] = row.to_json()["shape"];
  mem.extra["winner"] = best;
  nlohmann::json kd;
  Model m = final_model(c, b, s, best, row, kd);
  m.tokenizer = r.dense.tokenizer;
  mem.extra["kd"] = kd;
  mem.search_s = seconds_since(t0);
  if (b.speedup) measure_member(c, b, row, m, mem);
  mem.params = weight_count(m);
  double kl = 0;
  mem.calib_loss = r.heldout->loss(m, is_encoder(r) ? nullptr : &kl);
  if (!is_encoder(r)) mem.kl = kl;
  if (r.unseen) mem.unseen_loss = r.unseen->loss(m);
  to_env_weights(r, m);  // --env dtype=: evaluated and written in the type it was timed in
  const EvalResult e = evaluate(r.opt, m);
  mem.ppl = e.ppl, mem.eval_tokens = e.eval_tokens, mem.spearman = e.spearman, mem.eval_pairs = e.eval_pairs;
  mem.file = file_name(b, mem.failure.has_value());
  std::error_code ec;
  fs::remove(fs::path(r.opt.out_dir) / file_name(b, !mem.failure.has_value()), ec);
  save_member(r, m, mem, (fs::path(r.opt.out_dir) / *mem.file).string());
  const std::string quality = mem.ppl ? fmt::format(", ppl {:.3f}", *mem.ppl) : mem.spearman ? fmt::format(", STS Spearman {:.4f}", *mem.spearman) : "";
  r.log(fmt::format("minitron {}: L={} kv={} q/kv={} ffn={} dim={}, {} params{}, {} {:.4f}{} -> {}", b.label(), row.shape.n_layers,
                    row.shape.n_kv_heads, row.shape.q_per_kv, row.shape.ffn_dim, row.shape.dim, *mem.params,
                    mem.measured_speedup ? fmt::format(", measured {:.3f}x (predicted {:.3f}x)", *mem.measured_speedup, *mem.predicted_speedup) : "",
                    is_encoder(r) ? "loss" : "KL", is_encoder(r) ? *mem.calib_loss : kl, quality, *mem.file));
  return mem;
}

void write_reports(const std::string& out_dir, const nlohmann::json& report) {
  write_file_atomic((fs::path(out_dir) / "report.json").string(), report.dump(1));
  write_file_atomic((fs::path(out_dir) / "report.md").string(), render_report_md(report) + minitron_candidates_md(report));
  write_file_atomic((fs::path(out_dir) / "report.svg").string(), render_report_svg(report));
}

// The latency record for speedup budgets: as the interrupted run recorded it, or timed now.
std::optional<UniformLatency> latency_of(CompressRun& r, const minitron::ShapeAxes& axes, const minitron::Importance& imp,
                                         RunState& st, const std::optional<RunState>& previous) {
  if (r.opt.targets.empty()) return std::nullopt;
  UniformLatency u;
  if (previous && previous->stages.contains("minitron_latency")) {
    u = UniformLatency::from_json(previous->stages["minitron_latency"]);
    adopt_table(r, u.table);
    r.log("resume: the minitron latency record as recorded");
  } else {
    u = time_uniform_shapes(r, axes, imp.channels);
  }
  st.stages["minitron_latency"] = u.to_json();
  save_run_state(r.opt.out_dir, st);
  return u;
}

// The members in budget order, the run state and the reports rewritten after each; on resume the
// recorded members whose files are intact are kept while they form a prefix (as ZipLM's).
void build_members(MinitronContext& c, nlohmann::json& report, const std::optional<RunState>& previous,
                   const StageClock& clock, std::chrono::steady_clock::time_point t_start) {
  CompressRun& r = c.r;
  const CompressOptions& opt = r.opt;
  RunState& st = c.st;
  report["members"] = nlohmann::json::array();
  bool keeping = previous.has_value();
  int k = 0;
  for (const MinitronBudget& b : budgets_of(opt)) {
    const FinishedMember* done = keeping && size_t(k) < previous->members.size() ? &previous->members[size_t(k)] : nullptr;
    keeping = done && done->report.value("target", -1.0) == b.speedup.value_or(0) && files_intact(opt.out_dir, *done);
    MemberReport mem;
    if (keeping) {
      mem = MemberReport::from_json(done->report);
      std::vector<CandidateRow> rows;
      for (const auto& j : mem.extra.value("candidates", nlohmann::json::array())) rows.push_back(CandidateRow::from_json(j));
      add_measured_scales(r, rows);
      r.log(fmt::format("resume: kept minitron {}", b.label()));
      st.members.push_back(*done);
    } else {
      mem = build_member(c, b, previous);
      FinishedMember f{mem.to_json(), {}};
      if (mem.file) f.files.push_back(check_file(opt.out_dir, *mem.file));
      st.members.push_back(std::move(f));
    }
    report["members"].push_back(mem.to_json());
    clock.set(report, st, "total", seconds_since(t_start));
    save_run_state(opt.out_dir, st);
    write_reports(opt.out_dir, report);
    if (opt.after_member) opt.after_member(k);
    k++;
  }
}

}  // namespace

int minitron_dim_step(const CompressOptions& o, int dim) { return o.dim_step > 0 ? o.dim_step : std::max(8, dim / 8 / 8 * 8); }

minitron::ShapeAxes minitron_axes(const CompressOptions& o, const ModelConfig& c) {
  minitron::ShapeAxes axes = minitron::shape_axes(minitron::uniform_shape_of(c), o.ffn_step, minitron_dim_step(o, c.dim));
  // Encoders keep their hidden size: their distillation and held-out losses compare hidden states
  // and embeddings with the dense model's channel for channel (docs/COMPRESS.md).
  if (!c.info().causal) axes.dim = {c.dim};
  return axes;
}

void check_minitron_options(const CompressOptions& o) {
  if (o.methods.size() != 1) throw UsageError("--method minitron runs alone (no --baselines)");
  if (!o.recipe.is_null()) throw UsageError("--recipe does not replay minitron members");
  if (o.params_fraction && !o.targets.empty()) throw UsageError("give one budget: --params F or --speedup LIST, not both");
  if (!o.params_fraction && o.targets.empty()) throw UsageError("--method minitron needs a budget: --params F or --speedup LIST");
  if (o.params_fraction && !(*o.params_fraction > 0 && *o.params_fraction < 1))
    throw UsageError(fmt::format("--params {} is outside (0, 1): it is the fraction of the dense parameters to keep", *o.params_fraction));
  if (o.nas_candidates < 1 || o.nas_probe < 1 || o.nas_steps < 0 || o.distill_tokens < 0 || o.distill_batch < 1)
    throw UsageError("--nas-candidates, --nas-probe and --distill-batch must be positive, --nas-steps and --distill-tokens not negative");
}

nlohmann::json compress_minitron(const std::string& model_path, const CompressOptions& opt) {
  const auto t_start = std::chrono::steady_clock::now();
  check_minitron_options(opt);
  check_options(opt);
  {
    const Model m = load_zlm(model_path);
    if (quant::has_block_weights(m))
      throw UsageError("--method minitron needs float weights and this model has quantized ones: make a float copy with "
                       "zip quantize MODEL.zlm -o MODEL-f32.zlm --type f32");
    if (!m.config.info().causal && opt.dim_step > 0)
      throw UsageError("--dim-step: --method minitron keeps an encoder's hidden size (its losses compare hidden states with the dense model's)");
  }
  CompressRun r(opt);
  open_dense(r, model_path);
  std::error_code ec;
  fs::create_directories(opt.out_dir, ec);
  ZIP_CHECK(!ec, "cannot create {}: {}", opt.out_dir, ec.message());
  std::optional<RunState> previous = previous_run(opt);
  if (opt.resume) remove_dead_temp_files(opt.out_dir, [&r](const std::string& s) { r.log(s); });
  calibrate(r);
  const minitron::ShapeAxes axes = minitron_axes(opt, r.dense.config);
  nlohmann::json report = header_of(r);
  RunState st;
  st.command = command_of(r, report);
  require_same_command(previous, st.command, opt.out_dir);
  const StageClock clock(previous);
  make_heldout_losses(r);
  auto t0 = std::chrono::steady_clock::now();
  minitron::ImportanceOptions io;
  io.threads = opt.threads;
  io.progress = [&r](const char* stage, int done, int total) {
    r.progress(std::string("importance: ") + (std::string(stage) == "scores" ? "windows" : "layer drops"), done, total);
  };
  const auto& h = r.calib.heldout;
  const std::vector<std::vector<int>> drop_windows =
      !r.calib.search.empty() ? r.calib.search : std::vector<std::vector<int>>(h.begin(), h.begin() + std::min<ptrdiff_t>(opt.search_windows, ptrdiff_t(h.size())));
  const minitron::Importance imp = minitron::compute_importance(r.dense, r.calib.train, drop_windows, io);
  report["importance"] = {{"windows", imp.windows}, {"tokens", imp.tokens}, {"drop_loss_windows", drop_windows.size()},
                          {"depth_by", "drop_loss"}};
  clock.set(report, st, "importance", seconds_since(t0));
  if (opt.obs_update) {
    t0 = std::chrono::steady_clock::now();
    r.projection_h = dense_projection_hessians(r);
    clock.set(report, st, "obs_hessians", seconds_since(t0));
  }
  report["complete"] = false;
  t0 = std::chrono::steady_clock::now();
  const std::optional<UniformLatency> lat = latency_of(r, axes, imp, st, previous);
  if (lat) report["latency_table"] = lat->table.to_json(), report["minitron_latency"] = lat->to_json();
  clock.set(report, st, "latency", seconds_since(t0));
  report["dense"] = dense_row(r, lat);
  const distill::TokenData corpus = minitron_kd_corpus(r.dense, r.calib, opt);
  MinitronContext c{r, imp, axes, lat, corpus, st};
  build_members(c, report, previous, clock, t_start);
  report["complete"] = true;
  clock.set(report, st, "total", seconds_since(t_start));
  write_reports(opt.out_dir, report);
  st.complete = true;
  save_run_state(opt.out_dir, st);
  if (!opt.keep_db) remove_database(r);
  fs::remove_all(fs::path(opt.out_dir) / ".minitron-kd", ec);
  return report;
}

}  // namespace zip

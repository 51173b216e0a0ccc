#include "compress/pipeline.h"

#include <chrono>
#include <filesystem>

#include "compress/distilled_family.h"
#include "compress/minitron_run.h"
#include "compress/report.h"
#include "compress/run.h"
#include "compress/run_state.h"
#include "compress/stage_clock.h"
#include "engine/error.h"
#include "engine/file_io.h"
#include "base/stopwatch.h"

namespace zip {

namespace fs = std::filesystem;

namespace {

// The report's header: the model, the environment, the calibration and the options.
nlohmann::json report_header(const CompressRun& r) {
  const CompressOptions& o = r.opt;
  const CalibSet& c = r.calib;
  return {{"model", r.model_path},
          {"parent_hash", r.model_hash},
          {"architecture", r.dense.config.info().name},
          {"dtype", weight_type(r.dense) ? dtype_name(*weight_type(r.dense)) : "-"},
          {"env", env_to_string(o.env)},
          {"calibration",
           {{"files", c.files.size()},
            {"paths", c.files},
            {"samples", o.calib.samples},
            {"len", o.calib.len},
            {"heldout_samples", o.calib.heldout},
            {"search_windows", o.search_windows},
            {"search_len", c.search.empty() ? o.calib.len : int(c.search[0].size())},
            {"search_separate", !c.search.empty()},
            {"search_by_folder", !c.search_folders.empty()},
            {"sentences", o.calib.sentences},
            {"seed", o.calib.seed},
            {"key", c.key}}},
          {"options",
           {{"damp", o.damp},
            {"ffn_step", o.ffn_step},
            {"block", o.block},
            {"error", o.token_error ? "token" : "total"},
            {"evaluations", o.evaluations},
            {"sensitivity", o.sensitivity},
            {"probe_density", o.probe_density},
            {"probe_windows", o.probe_windows},
            {"probe_shrink", o.probe_shrink},
            {"search_loss", r.search_loss},
            {"aim", o.aim},
            {"seed", o.seed}}}};
}

// The dense model's row. Its time is the latency table's T_dense, the figure the table and the
// predictions use (a second measurement here once gave 67.996 ms against T_dense 76.872 ms taken
// in another spell); when a cached table was checked against the dense model timed now, that
// figure is recorded beside it, labelled.
nlohmann::json dense_row(CompressRun& r) {
  nlohmann::json dense = {{"time_s", r.table.t_dense}, {"time_from", "latency table (T_dense)"},
                          {"params", weight_count(r.dense)}, {"calib_loss", r.heldout->dense_loss()}};
  if (r.dense_measured > 0 && r.dense_measured != r.table.t_dense) dense["time_now_s"] = r.dense_measured;
  if (r.unseen) dense["unseen_loss"] = r.unseen->dense_loss();
  const EvalResult e = evaluate(r.opt, r.dense);
  if (e.ppl) dense["ppl"] = *e.ppl, dense["eval_tokens"] = *e.eval_tokens;
  if (e.spearman) dense["spearman"] = *e.spearman, dense["eval_pairs"] = *e.eval_pairs;
  if (!r.opt.eval_file.empty()) dense["eval_file"] = fs::path(r.opt.eval_file).filename().string();
  if (r.opt.env.weights) {
    // The baseline a user of a quantised runtime compares members with: the dense model quantised.
    Model q = r.dense;
    to_env_weights(r, q);
    const EvalResult eq = evaluate(r.opt, q);
    nlohmann::json dep = {{"dtype", quant::quant_mix_name(*r.opt.env.weights)}, {"params", weight_count(q)}};
    if (eq.ppl) dep["ppl"] = *eq.ppl;
    if (eq.spearman) dep["spearman"] = *eq.spearman;
    dense["deployed"] = dep;
  }
  return dense;
}

nlohmann::json replay_members(CompressRun& r) {
  nlohmann::json members = nlohmann::json::array();
  for (const nlohmann::json& j : r.opt.recipe.at("members")) {
    MemberReport recorded = MemberReport::from_json(j);
    if (recorded.feasible) members.push_back(replay_member(r, recorded).to_json());
  }
  return members;
}

bool distilled(const CompressOptions& o) { return o.distill_tokens > 0 || o.gradual; }

// The options of distillation and gradual mode (absent from runs without them).
nlohmann::json distill_options_json(const CompressOptions& o) {
  nlohmann::json j = {{"tokens", o.distill_tokens}, {"batch", o.distill_batch}, {"seq", o.distill_seq}, {"lr", o.distill_lr},
                      {"ckpt_every", o.distill_ckpt_every}, {"precision", train::precision_name(o.distill_precision)}, {"gradual", o.gradual}, {"gradual_steps", o.gradual_steps}};
  j["data"] = o.distill_data.empty() ? nlohmann::json("calibration windows")
                                     : nlohmann::json(fmt::format("{} (crc32c {:08x})", o.distill_data, check_file("", o.distill_data).crc32c));
  return j;
}

// What a resume must find unchanged: everything that changes a member.
nlohmann::json command_of(const CompressRun& r, const nlohmann::json& header) {
  const CompressOptions& o = r.opt;
  nlohmann::json c = header;
  std::vector<std::string> methods;
  for (PruneMethod m : o.methods) methods.push_back(prune_method_name(m));
  c["methods"] = methods, c["targets"] = o.targets;
  c["timing"] = {{"warmup", o.timing.warmup}, {"reps", o.timing.reps}, {"max_rounds", o.max_rounds}};
  c["threads"] = o.threads;
  c["eval"] = {{"file", o.eval_file}, {"tokens", o.eval_tokens}, {"ctx", o.eval_ctx}};
  c["latency_source"] = o.latency ? "given by the caller" : "engine";
  if (distilled(o)) c["distill"] = distill_options_json(o);
  return c;
}

void write_reports(const std::string& out_dir, const nlohmann::json& report) {
  write_file_atomic((fs::path(out_dir) / "report.json").string(), report.dump(1));
  write_file_atomic((fs::path(out_dir) / "report.md").string(), render_report_md(report));
  write_file_atomic((fs::path(out_dir) / "report.svg").string(), render_report_svg(report));
}

bool same_member(const nlohmann::json& j, PruneMethod m, double target) {
  return j.value("method", "") == prune_method_name(m) && j.value("target", 0.0) == target;
}

// The members in order, the run state and the report rewritten after each. On resume the recorded
// members whose files are intact are kept while they form a prefix (a later member's first budget
// depends on the earlier members' rounds); from the first one that is not, the rest are built.
void search_members(CompressRun& r, nlohmann::json& report, RunState& st, const std::optional<RunState>& previous,
                    const StageClock& clock, std::chrono::steady_clock::time_point t_start) {
  const std::string& out = r.opt.out_dir;
  report["members"] = nlohmann::json::array();
  bool keeping = previous.has_value();
  int k = 0;
  for (PruneMethod m : r.opt.methods)
    for (double target : r.opt.targets) {
      const FinishedMember* done = keeping && size_t(k) < previous->members.size() ? &previous->members[size_t(k)] : nullptr;
      keeping = done && same_member(done->report, m, target) && files_intact(out, *done);
      MemberReport mem;
      if (keeping) {
        mem = MemberReport::from_json(done->report);
        for (const RoundRecord& rr : mem.round_log) r.table_scale.push_back(rr.table_scale);
        r.log(fmt::format("resume: kept {} {}{}", mem.method, target_label(target), mem.file ? " (" + *mem.file + ", checksum ok)" : ""));
        st.members.push_back(*done);
      } else {
        if (done) r.log(fmt::format("resume: {} {} is not as recorded (file missing or changed): building it and the members after it",
                                    prune_method_name(m), target_label(target)));
        mem = compress_member(r, m, target);
        FinishedMember f{mem.to_json(), {}};
        if (mem.file) f.files.push_back(check_file(out, *mem.file));
        st.members.push_back(std::move(f));
      }
      report["members"].push_back(mem.to_json());
      clock.set(report, st, "total", seconds_since(t_start));
      save_run_state(out, st);
      write_reports(out, report);
      if (r.opt.after_member) r.opt.after_member(k);
      k++;
    }
}

// The latency table and the dense row: recorded by an interrupted run, or made now.
void time_and_dense(CompressRun& r, nlohmann::json& report, RunState& st, const std::optional<RunState>& previous,
                    const StageClock& clock) {
  auto t0 = std::chrono::steady_clock::now();
  if (previous && previous->stages.contains("latency_table") && previous->stages.contains("dense")) {
    adopt_table(r, LatencyTable::from_json(previous->stages["latency_table"]));
    report["dense"] = previous->stages["dense"];
    r.log("resume: the latency table and the dense model's row as recorded");
  } else {
    time_rankings(r);
    report["dense"] = dense_row(r);
  }
  clock.set(report, st, "latency", seconds_since(t0));
  report["latency_table"] = r.table.to_json();
  st.stages["latency_table"] = report["latency_table"];
  st.stages["dense"] = report["dense"];
  save_run_state(r.opt.out_dir, st);
}

// The run state an unfinished run left in OUT_DIR, when --resume asks for it; refuses to overwrite
// one otherwise.
std::optional<RunState> previous_run(const CompressOptions& o) {
  std::optional<RunState> prev = load_run_state(o.out_dir);
  if (!o.resume) {
    if (prev && !prev->complete)
      throw UsageError(fmt::format("{} holds an unfinished compress run: add --resume to continue it, or choose another -o",
                                   printable(o.out_dir)));
    return std::nullopt;
  }
  if (!prev && o.log) o.log("resume: no run state in " + o.out_dir + ": starting the run");
  return prev;
}

}  // namespace

nlohmann::json compress_family(const std::string& model_path, const CompressOptions& opt) {
  for (PruneMethod m : opt.methods)
    if (m == PruneMethod::Minitron) return compress_minitron(model_path, opt);  // its own driver
  const auto t_start = std::chrono::steady_clock::now();
  check_options(opt);
  const bool replay = !opt.recipe.is_null();
  if (replay && opt.resume) throw UsageError("--resume continues a search run; it does not apply to --recipe");
  CompressRun r(opt);
  open_dense(r, model_path);
  std::error_code ec;
  fs::create_directories(opt.out_dir, ec);
  ZIP_CHECK(!ec, "cannot create {}: {}", opt.out_dir, ec.message());
  std::optional<RunState> previous = replay ? std::nullopt : previous_run(opt);
  if (opt.resume) {
    remove_dead_temp_files(opt.out_dir, [&r](const std::string& s) { r.log(s); });
    if (!opt.db_root.empty()) remove_dead_temp_files(opt.db_root, [&r](const std::string& s) { r.log(s); });
  }

  auto t0 = std::chrono::steady_clock::now();
  calibrate(r);
  nlohmann::json report = report_header(r);
  RunState st;
  st.command = command_of(r, report);
  require_same_command(previous, st.command, opt.out_dir);
  const StageClock clock(previous);
  rank_methods(r, opt.methods);
  clock.set(report, st, "database", seconds_since(t0));
  t0 = std::chrono::steady_clock::now();
  make_heldout_losses(r);
  clock.set(report, st, "heldout", seconds_since(t0));
  if (replay) {
    report["members"] = replay_members(r);
    clock.set(report, st, "total", seconds_since(t_start));
    write_file_atomic((fs::path(opt.out_dir) / "report.json").string(), report.dump(1));
  } else {
    report["complete"] = false;
    time_and_dense(r, report, st, previous, clock);
    t0 = std::chrono::steady_clock::now();
    if (distilled(opt)) {
      report["options"]["distill"] = distill_options_json(opt);
      build_distilled_family(r, report, st, previous, [&](int k) {
        clock.set(report, st, "total", seconds_since(t_start));
        save_run_state(opt.out_dir, st);
        write_reports(opt.out_dir, report);
        if (opt.after_member) opt.after_member(k);
      });
    } else {
      search_members(r, report, st, previous, clock, t_start);
    }
    clock.set(report, st, "search", seconds_since(t0));
    clock.set(report, st, "total", seconds_since(t_start));
    report["complete"] = true;
    report["database"] = database_summary(r);
    write_reports(opt.out_dir, report);
    st.complete = true;
    save_run_state(opt.out_dir, st);
  }
  if (!opt.keep_db) remove_database(r);
  return report;
}

std::vector<std::string> guarantee_misses(const nlohmann::json& report) {
  std::vector<std::string> out;
  for (const nlohmann::json& j : report.value("members", nlohmann::json::array())) {
    const MemberReport m = MemberReport::from_json(j);
    const std::string who = fmt::format("{} {}", m.method, target_label(m.target));
    if (!m.feasible)
      out.push_back(fmt::format("{}: infeasible (largest achievable speedup {:.2f}x)", who, m.max_speedup));
    else if (m.guarantee_met == false)
      out.push_back(fmt::format("{}: {}; written as {}", who, m.failure.value_or("outside the band"), m.file.value_or("-")));
  }
  return out;
}

}  // namespace zip

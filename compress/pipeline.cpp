#include "compress/pipeline.h"

#include <chrono>
#include <filesystem>

#include "compress/report.h"
#include "compress/run.h"
#include "engine/error.h"
#include "engine/file_io.h"

namespace zip {

namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The report's header: the model, the environment, the calibration and the options.
nlohmann::json report_header(const CompressRun& r) {
  const CompressOptions& o = r.opt;
  const CalibSet& c = r.calib;
  return {{"model", r.model_path},
          {"parent_hash", r.model_hash},
          {"architecture", r.dense.config.info().name},
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

// The dense model's row: its time, size, losses and evaluation.
nlohmann::json dense_row(CompressRun& r) {
  if (r.dense_measured == 0) r.dense_measured = r.latency->measure(r.dense);
  nlohmann::json dense = {{"time_s", r.dense_measured}, {"params", weight_count(r.dense)}, {"calib_loss", r.heldout->dense_loss()}};
  if (r.unseen) dense["unseen_loss"] = r.unseen->dense_loss();
  const EvalResult e = evaluate(r.opt, r.dense);
  if (e.ppl) dense["ppl"] = *e.ppl, dense["eval_tokens"] = *e.eval_tokens;
  if (e.spearman) dense["spearman"] = *e.spearman, dense["eval_pairs"] = *e.eval_pairs;
  if (!r.opt.eval_file.empty()) dense["eval_file"] = fs::path(r.opt.eval_file).filename().string();
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

nlohmann::json search_members(CompressRun& r) {
  nlohmann::json members = nlohmann::json::array();
  for (PruneMethod m : r.opt.methods)
    for (double target : r.opt.targets) members.push_back(compress_member(r, m, target).to_json());
  return members;
}

}  // namespace

nlohmann::json compress_family(const std::string& model_path, const CompressOptions& opt) {
  const auto t_start = std::chrono::steady_clock::now();
  check_options(opt);
  const bool replay = !opt.recipe.is_null();
  CompressRun r(opt);
  open_dense(r, model_path);
  std::error_code ec;
  fs::create_directories(opt.out_dir, ec);
  ZIP_CHECK(!ec, "cannot create {}: {}", opt.out_dir, ec.message());
  nlohmann::json wall;

  auto t0 = std::chrono::steady_clock::now();
  calibrate(r);
  rank_methods(r, opt.methods);
  wall["database"] = seconds_since(t0);
  nlohmann::json report = report_header(r);
  t0 = std::chrono::steady_clock::now();
  make_heldout_losses(r);
  wall["heldout"] = seconds_since(t0);
  if (replay) {
    report["members"] = replay_members(r);
  } else {
    t0 = std::chrono::steady_clock::now();
    time_rankings(r);
    wall["latency"] = seconds_since(t0);
    report["latency_table"] = r.table.to_json();
    t0 = std::chrono::steady_clock::now();
    report["dense"] = dense_row(r);
    report["members"] = search_members(r);
    wall["search"] = seconds_since(t0);
  }
  wall["total"] = seconds_since(t_start);
  report["wall_s"] = wall;
  write_file_atomic((fs::path(opt.out_dir) / "report.json").string(), report.dump(1));
  if (!replay) {
    write_file_atomic((fs::path(opt.out_dir) / "report.md").string(), render_report_md(report));
    write_file_atomic((fs::path(opt.out_dir) / "report.svg").string(), render_report_svg(report));
  }
  if (opt.db_root.empty()) fs::remove_all(r.db_root, ec);
  return report;
}

}  // namespace zip

#include "compress/distilled_family.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "compress/band.h"
#include "compress/distill_member.h"
#include "compress/rank.h"
#include "engine/error.h"
#include "engine/zlm.h"
#include "base/stopwatch.h"

namespace zip {

namespace fs = std::filesystem;
using nlohmann::json;

std::vector<FamilyStep> family_steps(const CompressOptions& o) {
  std::vector<FamilyStep> steps;
  if (!o.gradual) {
    for (PruneMethod m : o.methods)
      for (double t : o.targets) steps.push_back({m, t});
    return steps;
  }
  std::vector<double> t = o.targets;
  std::sort(t.begin(), t.end());
  t.erase(std::unique(t.begin(), t.end()), t.end());
  for (size_t i = 0; i < t.size(); i++) {
    // Intermediate targets: geometric between the two, to two decimals (the file names' precision).
    for (int j = 1; i > 0 && j <= o.gradual_steps; j++) {
      const double x = std::round(100 * t[i - 1] * std::pow(t[i] / t[i - 1], double(j) / (o.gradual_steps + 1))) / 100;
      if (x > steps.back().target && x < t[i]) steps.push_back({o.methods[0], x, true});
    }
    steps.push_back({o.methods[0], t[i]});
  }
  return steps;
}

namespace {

bool same_step(const json& j, const FamilyStep& s) {
  return j.value("method", "") == prune_method_name(s.method) && j.value("target", 0.0) == s.target;
}

json file_json(const FileCheck& f) { return {{"name", f.name}, {"bytes", f.bytes}, {"crc32c", f.crc32c}}; }
bool file_matches(const std::string& out, const json& f) {
  const FileCheck now = check_file(out, f.at("name").get<std::string>());
  return now.bytes == f.at("bytes").get<int64_t>() && now.crc32c == f.at("crc32c").get<uint32_t>();
}

// Gradual mode: `file` (a finished member in OUT_DIR) becomes the parent the next member is
// pruned from, with its own database. Returns the seconds the database took (loaded or built).
double use_parent(CompressRun& r, Model& parent, const std::string& file, PruneMethod m) {
  const std::string path = (fs::path(r.opt.out_dir) / file).string();
  if (r.parent && r.parent_path == file) return 0;
  const auto t0 = std::chrono::steady_clock::now();
  parent = load_zlm(path);
  r.parent = &parent;
  r.parent_path = file;  // the name alone: a member's provenance does not depend on OUT_DIR
  r.parent_hash = zlm_content_hash(path);
  if (std::find(r.db_models.begin(), r.db_models.end(), r.parent_hash) == r.db_models.end()) r.db_models.push_back(r.parent_hash);
  r.rankings.clear(), r.search_centre.clear();
  RankInputs in{r.db_root, r.parent_hash, [&r](const std::string& l, int d, int t) { r.progress(l, d, t); }};
  r.rankings[ranking_key(m, r.opt)] = rank(parent, m, r.calib, r.opt, in);
  const double s = seconds_since(t0);
  r.log(fmt::format("database {} on {} (hash {}): ready in {:.1f} s", ranking_key(m, r.opt), file, r.parent_hash, s));
  return s;
}

json quality(const MemberReport& m) {
  json j = json::object();
  if (m.calib_loss) j["calib_loss"] = *m.calib_loss;
  if (m.unseen_loss) j["unseen_loss"] = *m.unseen_loss;
  if (m.kl) j["kl"] = *m.kl;
  if (m.ppl) j["ppl"] = *m.ppl;
  if (m.spearman) j["spearman"] = *m.spearman;
  return j;
}

// Distills the member written at OUT_DIR/<mem.file>, measures it again as written (losses,
// evaluation, speedup) and writes it over the undistilled file.
void distill_and_remeasure(CompressRun& r, MemberReport& mem, int k, int n, bool resume) {
  const fs::path out(r.opt.out_dir);
  Model m = load_zlm((out / *mem.file).string());
  const std::string stem = fs::path(*mem.file).stem().string();
  if (!r.dense.config.info().causal) mem.kl.reset();  // encoders: no distributions to compare
  json before = quality(mem);
  if (mem.measured_speedup) before["measured_speedup"] = *mem.measured_speedup;
  const std::string who = fmt::format("{} {}", mem.method, target_label(mem.target));
  const MemberDistill d =
      distill_member(r, m, r.opt.distill_tokens, (out / ".kd" / (stem + ".ckpt")).string(), resume,
                     fmt::format("distill {} [member {}/{}]", who, k + 1, n), k);

  double kl = 0;
  const bool decoder = r.dense.config.info().causal;
  mem.calib_loss = r.heldout->loss(m, decoder ? &kl : nullptr);
  if (decoder) mem.kl = kl;
  if (r.unseen) mem.unseen_loss = r.unseen->loss(m);
  to_env_weights(r, m);  // --env dtype=: evaluated, timed and written in that type (losses above: float, as before KD)
  const EvalResult e = evaluate(r.opt, m);
  mem.ppl = e.ppl, mem.eval_tokens = e.eval_tokens, mem.spearman = e.spearman, mem.eval_pairs = e.eval_pairs;
  // The guarantee on the file that is written: distillation keeps the shapes, so this is a check.
  const PairTiming t = r.latency->measure_pair(r.dense, m);
  json after = quality(mem);
  after["measured_speedup"] = t.dense_s / t.model_s;
  json dj = distill_to_json(d);
  dj["before"] = before, dj["after"] = after;
  mem.extra["distill"] = dj;
  const double ratio = t.dense_s / t.model_s / mem.target;
  if (mem.guarantee_met == true && outside_band(ratio)) {
    mem.guarantee_met = false;
    mem.failure = fmt::format("measured {:.3f}x = {:.3f} x target after distillation, outside [{}, {}]", ratio * mem.target,
                              ratio, kBandLow, kBandHigh);
    std::error_code ec;
    fs::remove(out / *mem.file, ec);
    mem.file = member_file_name(mem.method, mem.target, true);
  }
  save_member(r, m, mem, (out / *mem.file).string());
  std::error_code ec;
  fs::remove_all(out / ".kd" / (stem + ".ckpt"), ec);
  r.log(fmt::format("{}: distilled on {} tokens in {:.1f} s: calib loss {:.4f} -> {:.4f}{}, measured {:.3f}x as written -> {}", who,
                    d.tokens, d.seconds, before.value("calib_loss", 0.0), *mem.calib_loss,
                    mem.ppl ? fmt::format(", ppl {:.3f} -> {:.3f}", before.value("ppl", 0.0), *mem.ppl) : std::string(),
                    ratio * mem.target, *mem.file));
}

// One member not kept from an earlier run: as stitched before distillation (kept from the
// interrupted run when `prefix_kept` and its file is intact, else searched), then distilled.
MemberReport build_member(CompressRun& r, RunState& st, const std::optional<RunState>& previous, bool prefix_kept, int k,
                          int n, const FamilyStep& step) {
  const std::string key = std::to_string(k), &out = r.opt.out_dir;
  const json* before = nullptr;
  if (prefix_kept && previous && previous->stages.contains("before_kd") && previous->stages["before_kd"].contains(key))
    before = &previous->stages["before_kd"][key];
  MemberReport mem;
  bool resume_kd = false;
  if (before && same_step(before->at("report"), step) && file_matches(out, before->at("file"))) {
    mem = MemberReport::from_json(before->at("report"));
    for (const RoundRecord& rr : mem.round_log) r.table_scale.push_back(rr.table_scale);
    resume_kd = true;
    r.log(fmt::format("resume: kept {} {} as stitched ({}, checksum ok); continuing its distillation", mem.method,
                      target_label(step.target), *mem.file));
  } else {
    mem = compress_member(r, step.method, step.target);
  }
  if (!mem.file || r.opt.distill_tokens == 0) return mem;
  st.stages["before_kd"][key] = {{"report", mem.to_json()}, {"file", file_json(check_file(out, *mem.file))}};
  save_run_state(out, st);
  distill_and_remeasure(r, mem, k, n, resume_kd);
  st.stages["before_kd"].erase(key);
  return mem;
}

double distill_seconds(const json& members) {
  double s = 0;
  for (const json& m : members)
    if (m.contains("distill")) s += m["distill"].value("seconds", 0.0);
  return s;
}

}  // namespace

void build_distilled_family(CompressRun& r, json& report, RunState& st, const std::optional<RunState>& previous,
                            const std::function<void(int)>& member_done) {
  const std::string& out = r.opt.out_dir;
  const std::vector<FamilyStep> steps = family_steps(r.opt);
  report["members"] = json::array();
  if (r.opt.gradual) {
    json targets = json::array();
    for (const FamilyStep& s : steps) targets.push_back(s.target);
    report["gradual"] = {{"steps", targets}, {"distill_tokens_per_step", r.opt.distill_tokens}};
  }
  st.stages["before_kd"] = json::object();
  Model parent;
  std::string parent_file;  // gradual: the last finished member
  bool keeping = previous.has_value();
  for (int k = 0; k < int(steps.size()); k++) {
    const FamilyStep& step = steps[size_t(k)];
    const FinishedMember* done = keeping && size_t(k) < previous->members.size() ? &previous->members[size_t(k)] : nullptr;
    const bool prefix_kept = keeping;
    keeping = done && same_step(done->report, step) && files_intact(out, *done);
    MemberReport mem;
    if (keeping) {
      mem = MemberReport::from_json(done->report);
      for (const RoundRecord& rr : mem.round_log) r.table_scale.push_back(rr.table_scale);
      r.log(fmt::format("resume: kept {} {}{}", mem.method, target_label(step.target), mem.file ? " (" + *mem.file + ", checksum ok)" : ""));
      st.members.push_back(*done);
    } else {
      if (done) r.log(fmt::format("resume: {} {} is not as recorded (file missing or changed): building it and the members after it",
                                  prune_method_name(step.method), target_label(step.target)));
      double db_s = 0;
      if (r.opt.gradual && !parent_file.empty()) db_s = use_parent(r, parent, parent_file, step.method);
      mem = build_member(r, st, previous, prefix_kept, k, int(steps.size()), step);
      mem.extra["parent"] = r.parent ? r.parent_path : std::string("dense");
      if (r.parent) mem.extra["database_s"] = db_s;
      if (step.intermediate) mem.extra["intermediate"] = true;
      FinishedMember f{mem.to_json(), {}};
      if (mem.file) f.files.push_back(check_file(out, *mem.file));
      st.members.push_back(std::move(f));
    }
    if (r.opt.gradual && mem.file) parent_file = *mem.file;
    report["members"].push_back(mem.to_json());
    report["wall_s"]["distill"] = distill_seconds(report["members"]);
    member_done(k);
  }
  r.parent = nullptr;
  std::error_code ec;
  fs::remove(fs::path(out) / ".kd", ec);  // only when empty
}

}  // namespace zip

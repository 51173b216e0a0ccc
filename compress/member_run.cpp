// Stages 4–6 of a run for one member: search (compress/member_search.h), stitch and re-measure
// until in band (compress/guarantee.h), evaluate, save; and the --recipe replay of a member.
#include <chrono>
#include <filesystem>

#include "compress/guarantee.h"
#include "compress/run.h"
#include "compress/slice.h"
#include "compress/stitch.h"
#include "compress/timing_spread.h"
#include "engine/error.h"

namespace zip {

namespace fs = std::filesystem;

namespace {

std::vector<LayerRecord> layer_records(const Model& dense, const Ranking& r, const std::vector<int>& levels) {
  std::vector<LayerRecord> rows;
  for (int l = 0; l < dense.config.n_layers(); l++) {
    const LayerShape& s = dense.config.layers[size_t(l)];
    const ModuleId attn{l, ModuleKind::Attention}, ffn{l, ModuleKind::Ffn};
    const int a = levels[size_t(module_index(attn))], f = levels[size_t(module_index(ffn))];
    auto [q, kv] = s.has_attention() ? attention_shape(s, r.levels(attn).kept[size_t(a)]) : AttnLevel{0, 0};
    rows.push_back({q, kv, s.has_ffn() ? int(r.levels(ffn).kept[size_t(f)].size()) : 0,
                    s.has_attention() ? r.levels(attn).error[size_t(a)] : 0.0,
                    s.has_ffn() ? r.levels(ffn).error[size_t(f)] : 0.0});
  }
  return rows;
}

void put_eval(MemberReport& m, const EvalResult& e) {
  m.ppl = e.ppl, m.eval_tokens = e.eval_tokens, m.spearman = e.spearman, m.eval_pairs = e.eval_pairs;
}

// The search's centre for a ranking: the probed per-module coefficients (computed once per
// ranking), shrunk toward their median; empty (c = 1) without --sensitivity.
std::vector<double> search_centre(CompressRun& r, const SearchContext& c, const std::vector<ModuleLevels>& mods) {
  if (!r.opt.sensitivity) return {};
  const std::string key = c.ranking.key();
  auto it = r.search_centre.find(key);
  if (it == r.search_centre.end()) {
    std::vector<ModuleProbe> probes = sensitivity_probes(c, mods, r.calib, [&r](const std::string& s) { r.log(s); });
    it = r.search_centre.emplace(key, probe_coefficients(probes)).first;
  }
  return shrink_toward_median(it->second, r.opt.probe_shrink);
}

// Stitches the chosen levels, measures the losses and the evaluation, records the recipe.
void finish_member(CompressRun& r, const Ranking& ranking, const std::vector<int>& levels, MemberReport& mem) {
  Model m = stitch_model(r.source(), ranking, levels);
  mem.params = weight_count(m);
  double kl = 0;
  mem.calib_loss = r.heldout->loss(m, r.dense.config.info().causal ? &kl : nullptr);
  if (r.unseen) mem.unseen_loss = r.unseen->loss(m);
  mem.kl = kl;
  const LayerLevels split = split_levels(levels);
  mem.attn_levels = split.attn, mem.ffn_levels = split.ffn;
  mem.slice = slice_spec_to_json(levels_slice(r.source(), ranking, levels));
  mem.layers = layer_records(r.source(), ranking, levels);
  // Evaluated and written as measured; a member still to be distilled stays float until then.
  if (r.opt.distill_tokens == 0) to_env_weights(r, m);
  put_eval(mem, evaluate(r.opt, m));
  // A member that missed its target is not written under the target's name (nor is a file of an
  // earlier run left there under it).
  const std::string name = member_file_name(mem.method, mem.target, false), failed = member_file_name(mem.method, mem.target, true);
  mem.file = mem.failure ? failed : name;
  std::error_code ec;
  fs::remove(fs::path(r.opt.out_dir) / (mem.failure ? name : failed), ec);
  save_member(r, m, mem, (fs::path(r.opt.out_dir) / *mem.file).string());
}

void log_member(const CompressRun& r, const MemberReport& mem) {
  const std::string unseen = mem.unseen_loss ? fmt::format(" (unseen windows {:.4f})", *mem.unseen_loss) : std::string();
  const std::string ppl = mem.ppl ? fmt::format(", ppl {:.3f}", *mem.ppl) : std::string();
  const std::string busy = mem.timing_spread.value_or(0) > kSpreadLimit
                               ? fmt::format(" (timing spread {:.1f} % even when timed again: low confidence)", *mem.timing_spread * 100)
                               : std::string();
  r.log(fmt::format("{} {}: predicted {:.3f}x, measured {:.3f}x{}{}, {} round{}, calib loss {:.4f}{}{} -> {}", mem.method,
                    target_label(mem.target), *mem.predicted_speedup, *mem.measured_speedup, busy,
                    *mem.guarantee_met ? "" : fmt::format(" (MISSED: outside [{}, {}] x target)", kBandLow, kBandHigh),
                    *mem.rounds, *mem.rounds == 1 ? "" : "s", *mem.calib_loss, unseen, ppl, *mem.file));
}

}  // namespace

MemberReport compress_member(CompressRun& r, PruneMethod method, double target) {
  const Ranking& ranking = r.ranking(method);
  const LatencyTable& t = r.table;
  std::vector<ModuleLevels> mods = search_modules(r.source(), ranking, t);
  MemberReport mem;
  mem.method = prune_method_name(method), mem.update = ranking.updates_weights(), mem.target = target;
  mem.max_speedup = max_speedup(mods, t.t_dense, t.t_fixed), mem.db_method = ranking.key();
  const std::string who = fmt::format("{} {}", mem.method, target_label(target));
  if (mem.max_speedup < target) {
    r.log(fmt::format("{}: infeasible in {} (largest achievable speedup {:.2f}x)", who, env_to_string(r.opt.env), mem.max_speedup));
    return mem;
  }
  mem.feasible = true;
  auto t0 = std::chrono::steady_clock::now();
  const BudgetAim aim{t.t_dense, t.t_fixed, target, std::min(r.opt.aim, mem.max_speedup / target), mem.max_speedup};
  std::vector<double> scales;  // the prior (when there is one), then this member's rounds
  if (!r.table_scale.empty()) scales.push_back(median_scale(r.table_scale));
  mem.table_scale = median_scale(scales);
  if (!scales.empty())
    r.log(fmt::format("{}: earlier members ran {:.3f}x slower than the table predicts; aiming through that", who, scales[0]));
  const double budget = aim.budget(median_scale(scales));

  SearchContext ctx{r.source(), ranking, *r.heldout, r.search_loss, r.opt,
                    [&r](const std::string& l, int d, int n) { r.progress(l, d, n); }};
  const SearchStrategy strategy = search_strategy(method);
  MemberSearch search(ctx, strategy, mods, "search " + who);
  if (strategy == SearchStrategy::Uniform) {
    search.first(budget, {});
  } else {
    SpdyResult s = search.first(budget, search_centre(r, ctx, mods));
    mem.search_objective = r.search_loss;
    mem.search_loss_dp = s.dp_only_loss, mem.search_loss = s.best_loss, mem.evaluations = s.evaluations;
    if (r.opt.sensitivity) mem.search_loss_sensitivity = s.base_loss;
  }
  ZIP_CHECK(search.choice().feasible, "internal: the search found nothing within a feasible budget");
  mem.search_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  GuaranteeResult g = meet_target(search, ranking, r.source(), r.dense, *r.latency, aim, budget, r.opt.max_rounds, scales,
                                  r.table_scale, who, [&r](const std::string& s) { r.log(s); });
  mem.guarantee_met = g.met;
  mem.round_log = g.rounds;
  mem.rounds = int(g.rounds.size());
  mem.predicted_speedup = t.t_dense / g.predicted_s;
  mem.measured_speedup = g.dense_measured_s / g.measured_s;
  mem.measured_s = g.measured_s, mem.dense_measured_s = g.dense_measured_s;
  mem.timing_spread = g.rounds[g.best].spread;
  if (!g.met)
    mem.failure = fmt::format("measured {:.3f}x = {:.3f} x target after {} round{}, outside [{}, {}]{}", *mem.measured_speedup,
                              *mem.measured_speedup / target, *mem.rounds, *mem.rounds == 1 ? "" : "s", kBandLow, kBandHigh,
                              mem.timing_spread.value_or(0) > kSpreadLimit
                                  ? fmt::format(" (timing spread {:.1f} %: the machine was too busy to judge)", *mem.timing_spread * 100)
                                  : "");
  finish_member(r, ranking, g.choice.level, mem);
  log_member(r, mem);
  return mem;
}

MemberReport replay_member(CompressRun& r, const MemberReport& recorded) {
  const PruneMethod method = parse_prune_method(recorded.method);
  const Ranking& ranking = r.ranking(method);
  ZIP_CHECK(recorded.db_method == ranking.key(), "recipe: member {} was built with database {}, options give {}",
            recorded.file.value_or("?"), recorded.db_method, ranking.key());
  ZIP_CHECK(recorded.attn_levels.size() == recorded.ffn_levels.size() &&
                int(recorded.attn_levels.size()) == r.dense.config.n_layers(),
            "recipe: member {} has levels for {} layers, the model has {}", recorded.file.value_or("?"),
            recorded.attn_levels.size(), r.dense.config.n_layers());
  Model m = stitch_model(r.dense, ranking, join_levels({recorded.attn_levels, recorded.ffn_levels}));
  MemberReport out = recorded;
  out.replayed = true;
  // The losses are measured again: a check that the replay is exact (same calibration, same
  // levels give the same calib_loss), and the unseen-window loss of members built before it existed.
  out.calib_loss = r.heldout->loss(m);
  if (r.unseen) out.unseen_loss = r.unseen->loss(m);
  ZIP_CHECK(recorded.file, "recipe: a member of method {} has no file name", recorded.method);
  to_env_weights(r, m);
  save_member(r, m, out, (fs::path(r.opt.out_dir) / *recorded.file).string());
  r.log(fmt::format("replayed {} -> {}: calib loss {:.4f}{}{}", prune_method_name(method), *recorded.file, *out.calib_loss,
                    recorded.calib_loss ? fmt::format(" (recipe: {:.4f})", *recorded.calib_loss) : std::string(),
                    out.unseen_loss ? fmt::format(", unseen windows {:.4f}", *out.unseen_loss) : std::string()));
  return out;
}

}  // namespace zip

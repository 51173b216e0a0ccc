#include "compress/minitron_search.h"

#include <algorithm>
#include <cmath>

#include "compress/band.h"
#include "compress/guarantee.h"
#include "compress/slice_refit.h"
#include "compress/timing_spread.h"
#include "engine/error.h"

namespace zip {

namespace {

nlohmann::json shape_json(const minitron::UniformShape& s) {
  return {{"layers", s.n_layers}, {"kv_heads", s.n_kv_heads}, {"q_per_kv", s.q_per_kv}, {"ffn", s.ffn_dim}, {"dim", s.dim}};
}

template <class T>
void put(nlohmann::json& j, const char* k, const std::optional<T>& v) {
  if (v) j[k] = *v;
}
template <class T>
void take(const nlohmann::json& j, const char* k, std::optional<T>& v) {
  if (j.contains(k)) v = j[k].get<T>();
}

}  // namespace

nlohmann::json CandidateRow::to_json() const {
  nlohmann::json j = {{"shape", shape_json(shape)}, {"params", params}, {"round", round}, {"selected", selected}};
  put(j, "predicted_speedup", predicted_speedup), put(j, "measured_speedup", measured_speedup), put(j, "spread", spread);
  put(j, "oneshot_kl", oneshot_kl), put(j, "kd_kl", kd_kl);
  return j;
}

CandidateRow CandidateRow::from_json(const nlohmann::json& j) {
  CandidateRow r;
  try {
    const auto& s = j.at("shape");
    r.shape = {s.at("layers"), s.at("kv_heads"), s.at("q_per_kv"), s.at("ffn"), s.at("dim")};
    r.params = j.at("params"), r.round = j.at("round"), r.selected = j.at("selected");
    take(j, "predicted_speedup", r.predicted_speedup), take(j, "measured_speedup", r.measured_speedup);
    take(j, "spread", r.spread), take(j, "oneshot_kl", r.oneshot_kl), take(j, "kd_kl", r.kd_kl);
  } catch (const nlohmann::json::exception& e) {
    fail("run state: a minitron candidate row is damaged ({})", e.what());
  }
  return r;
}

std::string MinitronBudget::label() const {
  return speedup ? target_label(*speedup) : fmt::format("p{:.2f}", params_fraction.value_or(0));
}

double heldout_divergence(CompressRun& r, const Model& m) {
  double kl = 0;
  const double loss = r.heldout->loss(m, r.dense.config.info().causal ? &kl : nullptr);
  return r.dense.config.info().causal ? kl : loss;
}

Model prune_candidate(const CompressRun& r, const minitron::Importance& imp, const minitron::UniformShape& s) {
  minitron::WidthHook refit;
  if (!r.projection_h.empty())
    refit = [&r](Model& sliced, const SliceSpec& spec) {
      refit_output_projections(r.dense, spec, r.projection_h, r.opt.damp, r.opt.threads, sliced);
    };
  Model m = minitron::prune_uniform(r.dense, imp, s, minitron::DepthScore::DropLoss, refit);
  m.tokenizer = r.dense.tokenizer;
  return m;
}

KdRun kd_for_shape(const CompressRun& r, const minitron::Importance& imp, const minitron::UniformShape& s, KdRun k) {
  const int L = r.dense.config.n_layers();
  if (!r.dense.config.info().causal) {
    std::vector<int> kept(static_cast<size_t>(L));
    for (int l = 0; l < L; l++) kept[size_t(l)] = l;
    if (s.n_layers < L) kept = minitron::layers_to_keep(imp, s.n_layers, minitron::DepthScore::DropLoss);  // as prune_uniform
    k.layer_map = encoder_layer_map(L, kept);
  }
  return k;
}

namespace {

// At most n of `all`, spread evenly over the list (the first and the last included).
std::vector<minitron::Candidate> spread_pick(const std::vector<minitron::Candidate>& all, int n) {
  if (int(all.size()) <= n) return all;
  std::vector<minitron::Candidate> out;
  for (int i = 0; i < n; i++) out.push_back(all[size_t(n == 1 ? 0 : int64_t(i) * int64_t(all.size() - 1) / (n - 1))]);
  return out;
}

bool same_shape(const minitron::UniformShape& a, const minitron::UniformShape& b) {
  return a.n_layers == b.n_layers && a.n_kv_heads == b.n_kv_heads && a.q_per_kv == b.q_per_kv && a.ffn_dim == b.ffn_dim &&
         a.dim == b.dim;
}

// One round: enumerate around `cost_budget` (less the shapes earlier rounds probed), probe
// one-shot, best first.
std::vector<CandidateRow> probe_round(MinitronSearch& s, const std::function<double(const minitron::UniformShape&)>& cost,
                                      double cost_budget, int round, const MinitronBudget& b,
                                      const std::vector<CandidateRow>& earlier = {}) {
  CompressRun& r = s.run;
  std::vector<minitron::Candidate> all = minitron::enumerate_candidates(s.axes, cost, cost_budget);
  std::erase_if(all, [&](const minitron::Candidate& c) {
    return std::any_of(earlier.begin(), earlier.end(), [&](const CandidateRow& e) { return same_shape(e.shape, c.shape); });
  });
  const std::vector<minitron::Candidate> probe = spread_pick(all, r.opt.nas_probe);
  r.log(fmt::format("minitron {}: round {}: {} shapes within ±5 % of the budget{}, {} probed one-shot", b.label(), round + 1,
                    all.size(), earlier.empty() ? "" : " not probed before", probe.size()));
  std::vector<CandidateRow> rows;
  int k = 0;
  for (const minitron::Candidate& c : probe) {
    CandidateRow row;
    row.shape = c.shape, row.round = round;
    row.params = minitron::uniform_params(r.dense.config, c.shape);
    if (s.latency) row.predicted_speedup = s.latency->table.t_dense / s.latency->predict(r.dense.config, c.shape);
    row.oneshot_kl = heldout_divergence(r, prune_candidate(r, s.imp, c.shape));
    rows.push_back(row);
    r.progress(fmt::format("minitron {}: one-shot probes", b.label()), ++k, int(probe.size()));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const CandidateRow& x, const CandidateRow& y) { return *x.oneshot_kl < *y.oneshot_kl; });
  return rows;
}

// Speedup budgets: rounds of probe → measure best first until nas_candidates lie in band. A
// round that ends with fewer aims the next through how far the measured candidates were from
// their predictions (at most max_rounds rounds).
std::vector<CandidateRow> select_by_speed(MinitronSearch& s, const MinitronBudget& b) {
  CompressRun& r = s.run;
  const double target = *b.speedup;
  auto cost = [&](const minitron::UniformShape& sh) { return s.latency->predict(r.dense.config, sh); };
  std::vector<CandidateRow> all;
  std::vector<double> scales;  // predicted / measured speedup of the measured candidates
  if (!r.table_scale.empty()) scales.push_back(median_scale(r.table_scale));
  int in_band = 0;
  for (int round = 0; round < std::max(1, r.opt.max_rounds) && in_band < r.opt.nas_candidates; round++) {
    if (round > 0)
      r.log(fmt::format("minitron {}: {} of {} candidates measured in [{}, {}] x target; aiming through the measured scale {:.3f}",
                        b.label(), in_band, r.opt.nas_candidates, kBandLow, kBandHigh, median_scale(scales)));
    const double budget = s.latency->table.t_dense / (target * r.opt.aim * median_scale(scales));
    std::vector<CandidateRow> rows = probe_round(s, cost, budget, round, b, all);
    for (CandidateRow& row : rows) {
      if (in_band >= r.opt.nas_candidates) break;
      const Model m = prune_candidate(r, s.imp, row.shape);
      const PairTiming p = measure_pair_trusted(*r.latency, r.dense, m, "minitron " + b.label(), [&r](const std::string& l) { r.log(l); });
      row.measured_speedup = p.dense_s / p.model_s, row.spread = p.spread;
      scales.push_back(*row.predicted_speedup / *row.measured_speedup);
      r.table_scale.push_back(scales.back());
      row.selected = !outside_band(*row.measured_speedup / target);
      in_band += row.selected;
    }
    all.insert(all.end(), rows.begin(), rows.end());
  }
  if (in_band == 0) {  // the member will miss: the measured candidate nearest the band is distilled
    CandidateRow* near = nullptr;
    for (CandidateRow& row : all)
      if (row.measured_speedup && (!near || band_distance(*row.measured_speedup / target) < band_distance(*near->measured_speedup / target)))
        near = &row;
    if (near) near->selected = true;
  }
  return all;
}

}  // namespace

std::vector<CandidateRow> search_architecture(MinitronSearch& s, const MinitronBudget& b, std::vector<CandidateRow> rows) {
  CompressRun& r = s.run;
  if (rows.empty()) {
    if (b.speedup) {
      rows = select_by_speed(s, b);
    } else {
      const double dense = double(r.dense.config.n_params());
      auto cost = [&](const minitron::UniformShape& sh) { return double(minitron::uniform_params(r.dense.config, sh)); };
      rows = probe_round(s, cost, *b.params_fraction * dense, 0, b);
      for (size_t i = 0; i < rows.size() && int(i) < r.opt.nas_candidates; i++) rows[i].selected = true;
    }
    if (s.checkpoint) s.checkpoint(rows);
  } else {
    r.log(fmt::format("resume: minitron {}: the candidate selection as recorded", b.label()));
    add_measured_scales(r, rows);
  }
  int done = 0, n = 0;
  for (const CandidateRow& row : rows) n += row.selected;
  for (CandidateRow& row : rows) {
    if (!row.selected || row.kd_kl || s.kd.steps == 0) continue;
    KdRun k = kd_for_shape(r, s.imp, row.shape, s.kd);
    k.label = fmt::format("minitron {}: short KD {}/{}", b.label(), ++done, n);
    Model m = distill_candidate(r.dense, prune_candidate(r, s.imp, row.shape), s.corpus, k);
    row.kd_kl = heldout_divergence(r, m);
    const size_t i = size_t(&row - rows.data());
    if (!s.best || *row.kd_kl < *rows[s.best->first].kd_kl) s.best.emplace(i, std::move(m));
    r.log(fmt::format("minitron {}: L={} kv={} q/kv={} ffn={} dim={}: {} {:.4f} one-shot, {:.4f} after {} KD steps", b.label(),
                      row.shape.n_layers, row.shape.n_kv_heads, row.shape.q_per_kv, row.shape.ffn_dim, row.shape.dim,
                      r.dense.config.info().causal ? "KL" : "loss", *row.oneshot_kl, *row.kd_kl, k.steps));
    if (s.checkpoint) s.checkpoint(rows);
    if (r.opt.after_kd) r.opt.after_kd(done);
  }
  return rows;
}

void add_measured_scales(CompressRun& r, const std::vector<CandidateRow>& rows) {
  for (const CandidateRow& row : rows)
    if (row.measured_speedup && row.predicted_speedup) r.table_scale.push_back(*row.predicted_speedup / *row.measured_speedup);
}

int best_candidate(const std::vector<CandidateRow>& rows) {
  int best = -1;
  auto score = [](const CandidateRow& r) { return r.kd_kl.value_or(r.oneshot_kl.value_or(INFINITY)); };
  for (size_t i = 0; i < rows.size(); i++)
    if (rows[i].selected && (best < 0 || score(rows[i]) < score(rows[size_t(best)]))) best = int(i);
  return best;
}

}  // namespace zip

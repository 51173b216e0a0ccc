#include "compress/member_search.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "compress/stitch.h"
#include "engine/error.h"
#include "engine/file_io.h"

namespace zip {

namespace fs = std::filesystem;

std::vector<ModuleLevels> search_modules(const Model& dense, const Ranking& r, const LatencyTable& t) {
  std::vector<ModuleLevels> mods(size_t(module_count(dense.config.n_layers())));
  for (int i = 0; i < int(mods.size()); i++) {
    const ModuleId id = module_at(i);
    const LayerShape& s = dense.config.layers[size_t(id.layer)];
    const bool attn = id.kind == ModuleKind::Attention;
    ModuleLevels& m = mods[size_t(i)];
    if (!(attn ? s.has_attention() : s.has_ffn())) {
      m.time = {attn ? t.attn_time(0, 0) : t.ffn_time(0)}, m.error = {0}, m.density = {0};
      continue;
    }
    const ModuleLevelSet& lv = r.levels(id);
    for (int k = 0; k < lv.size(); k++) {
      const std::vector<int>& kept = lv.kept[size_t(k)];
      m.time.push_back(attn ? t.attn_time(attention_shape(s, kept)) : t.ffn_time(int(kept.size())));
      m.error.push_back(lv.error[size_t(k)]);
      m.density.push_back(double(kept.size()) / double(lv.structures));
    }
  }
  return mods;
}

double search_loss_of(const SearchContext& c, const std::vector<int>& levels) {
  Model m = stitch_model(c.dense, c.ranking, levels);
  return c.search_loss == "nll" ? c.heldout.loss(m) : c.heldout.divergence(m, 0);
}

std::vector<ModuleProbe> sensitivity_probes(const SearchContext& c, const std::vector<ModuleLevels>& mods,
                                            const CalibSet& calib, const std::function<void(const std::string&)>& log) {
  const CompressOptions& o = c.opt;
  // Probes measure the search's divergence; the token-level ones keep their old file names.
  const std::string loss = c.search_loss == "pooled" || c.search_loss == "similarity" ? "-" + c.search_loss : "";
  const std::string windows =
      calib.search.empty() ? "" : fmt::format("x{}{}", calib.search[0].size(), calib.search_folders.empty() ? "" : "f");
  const std::string path =
      (fs::path(c.ranking.cache_dir()) / fmt::format("sensitivity-w{}{}-d{}{}.json", std::min(o.probe_windows, o.search_windows),
                                                     windows, o.probe_density, loss)).string();
  if (file_exists(path)) {
    try {
      std::vector<ModuleProbe> p = probes_from_json(nlohmann::json::parse(read_file(path)));
      if (p.size() == mods.size()) return p;
    } catch (const std::exception&) {
    }  // damaged: re-probe
  }
  auto t0 = std::chrono::steady_clock::now();
  std::vector<int> dense_levels(mods.size(), 0);
  const std::string label = fmt::format("sensitivity ({})", c.ranking.key());
  std::vector<ModuleProbe> p = probe_sensitivity(
      mods, o.probe_density,
      [&](size_t m, int level) {
        std::vector<int> lv = dense_levels;
        lv[m] = level;
        return c.heldout.divergence(stitch_model(c.dense, c.ranking, lv), module_at(int(m)).layer, o.probe_windows);
      },
      [&](int d, int n) { c.progress(label, d, n); });
  write_file_atomic(path, probes_to_json(p).dump(1));
  log(fmt::format("sensitivity {}: {} modules probed in {:.1f} s", c.ranking.key(), p.size(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()));
  return p;
}

MemberSearch::MemberSearch(const SearchContext& c, SearchStrategy s, std::vector<ModuleLevels> mods, std::string label)
    : c_(c), strategy_(s), mods_(std::move(mods)), label_(std::move(label)), coef_(mods_.size(), 1.0) {}

SpdyResult MemberSearch::spdy(double budget, std::vector<double> base, int evaluations, int round) {
  SpdyOptions so;
  so.evaluations = evaluations;
  so.seed = c_.opt.seed + uint64_t(round - 1);
  const std::string label = label_ + (round > 1 ? fmt::format(" (round {})", round) : "");
  so.progress = [this, label](int d, int n) { c_.progress(label, d, n); };
  so.base = std::move(base);
  auto loss = [&](const std::vector<int>& lv) {
    auto it = losses_.find(lv);
    if (it != losses_.end()) return it->second;
    return losses_[lv] = search_loss_of(c_, lv);
  };
  SpdyResult s = spdy_search(mods_, budget, loss, so);
  choice_ = s.best, coef_ = s.coef, choice_loss_ = s.best_loss;
  return s;
}

SpdyResult MemberSearch::first(double budget, std::vector<double> base) {
  if (strategy_ == SearchStrategy::Uniform) {
    choice_ = solve_uniform(mods_, budget);
    return {};
  }
  return spdy(budget, std::move(base), c_.opt.evaluations, 1);
}

bool MemberSearch::again(double budget, int round) {
  if (strategy_ == SearchStrategy::Uniform) {
    choice_ = solve_uniform(mods_, budget);
    return true;
  }
  if (!solve_dp(mods_, coef_, budget).feasible) return false;
  spdy(budget, coef_, std::max(2, c_.opt.evaluations / 3), round);
  return true;
}

}  // namespace zip

// The combinations of the two methods (SPEC §6.3) on stories260K: Minitron's activation
// importance orders the structures of ZipLM's levels (compress/rank.cpp), with the OBS update of
// the kept columns ("importance") or without ("importance-no-update"), and ZipLM's runtime-aware
// search picks per-layer levels; a synthetic latency table stands in for timing.
#include <algorithm>
#include <numeric>

#include "compress/calibration.h"
#include "compress/pipeline.h"
#include "compress/rank.h"
#include "engine/file_io.h"
#include "engine/zlm.h"
#include "prune/minitron/importance.h"
#include "prune/ziplm/database.h"
#include "tests/fixtures.h"
#include "tests/test_util.h"

using namespace zip;

namespace {

// The structures a level keeps when the `removed` least important go (ties: lower index first).
std::vector<int> top_kept(const std::vector<double>& score, int removed) {
  std::vector<int> idx(score.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return score[size_t(a)] < score[size_t(b)]; });
  std::vector<int> kept(idx.begin() + removed, idx.end());
  std::sort(kept.begin(), kept.end());
  return kept;
}

}  // namespace

TEST_CASE("compress importance ranking: levels keep the most important heads and neurons; the update lowers the error") {
  const Model m = load_zlm(ztest::stories260K_zlm());
  CompressOptions o;
  o.calib.samples = 16, o.calib.len = 64, o.calib.heldout = 8;
  o.ffn_step = 32, o.block = 8, o.threads = 2;
  const CalibSet calib = sample_calibration(m, calibration_files({ztest::shared("data/tinystories")}), o.calib);
  const RankInputs in{ztest::temp_dir() + "/db-importance", "stories260K", {}};
  const auto upd = rank(m, PruneMethod::Importance, calib, o, in);
  const auto raw = rank(m, PruneMethod::ImportanceNoUpdate, calib, o, in);
  CHECK(upd->key() != raw->key());
  CHECK(upd->key() != ranking_key(PruneMethod::ZipLM, o));
  CHECK(upd->updates_weights());
  CHECK_FALSE(raw->updates_weights());

  minitron::ImportanceOptions io;
  io.threads = 2;
  const minitron::Importance imp = minitron::compute_importance(m, calib.train, {}, io);
  double err_upd = 0, err_raw = 0;
  for (int l = 0; l < m.config.n_layers(); l++) {
    for (ModuleKind kind : {ModuleKind::Attention, ModuleKind::Ffn}) {
      const ModuleLevelSet &a = upd->levels({l, kind}), &b = raw->levels({l, kind});
      const std::vector<double>& score = kind == ModuleKind::Attention ? imp.heads[size_t(l)] : imp.neurons[size_t(l)];
      REQUIRE(a.size() > 2);
      REQUIRE(a.size() == b.size());
      for (int lv = 0; lv < a.size(); lv++) {
        INFO("layer " << l << (kind == ModuleKind::Attention ? " attention" : " ffn") << " level " << lv);
        CHECK(a.kept[size_t(lv)] == top_kept(score, a.structures - int(a.kept[size_t(lv)].size())));
        CHECK(b.kept[size_t(lv)] == a.kept[size_t(lv)]);
        err_upd += a.error[size_t(lv)], err_raw += b.error[size_t(lv)];
      }
      // The update refits the kept columns of the output projection; without it they stay dense.
      const auto wu = upd->output_weight(m, {l, kind}, 1), wr = raw->output_weight(m, {l, kind}, 1);
      REQUIRE(wu.has_value());
      if (wr) {
        REQUIRE(wr->shape == wu->shape);
        CHECK(wr->to_floats() != wu->to_floats());
      }
    }
  }
  CHECK(err_upd < 0.9 * err_raw);
  // The orders are computed once for both methods and kept beside the database's statistics.
  const std::string orders = Database(in.db_root, in.model_hash, calib.key).dir() + "/importance-order.json";
  REQUIRE(file_exists(orders));
  const nlohmann::json j = nlohmann::json::parse(read_file(orders));
  CHECK(j["attn"].size() == size_t(m.config.n_layers()));
  CHECK(j["ffn"][0].size() == size_t(m.config.layers[0].ffn_dim));
  // Cached: a second ranking reads the levels back without computing importance again.
  CHECK(rank(m, PruneMethod::Importance, calib, o, in)->levels({0, ModuleKind::Ffn}).kept == upd->levels({0, ModuleKind::Ffn}).kept);
}

TEST_CASE("compress --method importance: members in band through ZipLM's search, beside its no-update ablation") {
  const std::string out = ztest::temp_dir() + "/importance-family";
  CompressOptions o;
  o.methods = {PruneMethod::Importance, PruneMethod::ImportanceNoUpdate};
  o.targets = {1.5, 2.0};
  o.calib_paths = {ztest::shared("data/tinystories")};
  o.calib.samples = 24, o.calib.len = 64, o.calib.heldout = 8;
  o.search_windows = 8;
  o.block = 8, o.evaluations = 6, o.threads = 2;
  o.out_dir = out;
  SyntheticCosts k;
  k.t_fixed = 2e-4, k.attn_base = 2e-5, k.per_q = 1e-5, k.per_kv = 5e-6, k.ffn_base = 2e-5, k.per_neuron = 5e-7;
  o.latency = synthetic_latency(k);
  const nlohmann::json report = compress_family(ztest::stories260K_zlm(), o);
  REQUIRE(report["members"].size() == 4);
  for (const auto& mem : report["members"]) {
    INFO(mem["method"].get<std::string>() << " " << mem["target"].get<double>());
    CHECK(mem["feasible"] == true);
    const double ratio = mem["measured_speedup"].get<double>() / mem["target"].get<double>();
    CHECK(ratio >= 0.97);
    CHECK(ratio <= 1.10);
    const std::string file = fmt::format("{}/{}-{:.2f}x.zlm", out, mem["method"].get<std::string>(), mem["target"].get<double>());
    CHECK(load_zlm(file).config.n_layers() == 5);
  }
}

#include "compress/rank.h"

#include <algorithm>
#include <numeric>

#include "engine/error.h"
#include "engine/file_io.h"
#include "prune/minitron/importance.h"
#include "prune/ziplm/ziplm_ranking.h"

namespace zip {

namespace {

bool importance_ordered(PruneMethod m) { return m == PruneMethod::Importance || m == PruneMethod::ImportanceNoUpdate; }

DbOptions ziplm_options(PruneMethod m, const CompressOptions& o) {
  DbOptions d;
  d.mode = m == PruneMethod::ZipLMNoUpdate || m == PruneMethod::ImportanceNoUpdate ? ObsMode::ObsNoUpdate
           : m == PruneMethod::Magnitude                                           ? ObsMode::Magnitude
                                                                                   : ObsMode::Obs;  // ZipLM, Importance, and uniform over ZipLM's ranking
  d.damp = o.damp, d.ffn_step = o.ffn_step, d.block = o.block, d.threads = o.threads;
  d.token_error = o.token_error;
  if (importance_ordered(m)) d.order_name = "importance";
  return d;
}

// Structure indices, least important first (ties: the lower index first).
std::vector<int> ascending(const std::vector<double>& score) {
  std::vector<int> idx(score.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return score[size_t(a)] < score[size_t(b)]; });
  return idx;
}

// Minitron's activation importance of every head and neuron (one forward pass over the
// calibration windows the database is built from) as per-layer removal orders. Cached beside the
// database's statistics (DIR/importance-order.json: the same model and calibration), so the
// importance methods of one run, and later runs, compute it once.
void importance_orders(const Model& dense, const CalibSet& calib, const CompressOptions& o, const RankInputs& in,
                       DbOptions& d) {
  const std::string cache = Database(in.db_root, in.model_hash, calib.key).dir() + "/importance-order.json";
  if (file_exists(cache)) {
    const nlohmann::json j = nlohmann::json::parse(read_file(cache), nullptr, false);
    if (j.is_object() && j.contains("attn") && j.contains("ffn") && j["attn"].size() == size_t(dense.config.n_layers())) {
      d.attn_order = j["attn"].get<std::vector<std::vector<int>>>();
      d.ffn_order = j["ffn"].get<std::vector<std::vector<int>>>();
      return;
    }
  }
  minitron::ImportanceOptions io;
  io.threads = o.threads;
  io.progress = [&](const char* stage, int done, int total) {
    if (in.progress) in.progress(fmt::format("importance ({})", stage), done, total);
  };
  const minitron::Importance imp = minitron::compute_importance(dense, calib.train, {}, io);
  for (size_t l = 0; l < imp.heads.size(); l++) {
    d.attn_order.push_back(ascending(imp.heads[l]));
    d.ffn_order.push_back(ascending(imp.neurons[l]));
  }
  write_file_atomic(cache, nlohmann::json{{"attn", d.attn_order}, {"ffn", d.ffn_order}}.dump());
}

}  // namespace

std::string ranking_key(PruneMethod m, const CompressOptions& o) { return ziplm_options(m, o).method_key(); }

std::shared_ptr<const Ranking> rank(const Model& dense, PruneMethod m, const CalibSet& calib, const CompressOptions& o,
                                    const RankInputs& in) {
  DbOptions d = ziplm_options(m, o);
  if (importance_ordered(m)) {
    // The orders are needed only for levels not yet in the database.
    const Database db(in.db_root, in.model_hash, calib.key);
    bool missing = false;
    for (int l = 0; l < dense.config.n_layers(); l++) missing |= !db.has_levels(d, l);
    if (missing) importance_orders(dense, calib, o, in, d);
  }
  return std::make_shared<ZipLmRanking>(dense, calib, in.db_root, in.model_hash, d,
                                        [&](const char* label, int done, int total) {
                                          if (in.progress) in.progress(fmt::format("{} ({})", label, d.method_key()), done, total);
                                        });
}

}  // namespace zip

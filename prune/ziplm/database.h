// The ZipLM database: for every layer, the attention module's and the FFN module's pruning
// levels under one ranking method — kept heads/neurons, the (OBS-updated) compacted output
// projection, and the relative output error on held-out tokens. Built once from the dense
// model's calibration statistics, cached on disk (keyed by model and calibration, not by the
// deployment environment), shared by every speedup target.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/model.h"
#include "compress/calibration.h"
#include "compress/ranking.h"
#include "prune/ziplm/db_file.h"
#include "prune/ziplm/obs.h"

namespace zip {

struct DbOptions {
  ObsMode mode = ObsMode::Obs;
  double damp = 0.01;
  int ffn_step = 32;  // FFN width grid
  int block = 32;     // neurons removed per OBS step
  // Level errors: mean over held-out tokens of each token's relative output error (default), or
  // the ratio of the sums Σ‖ΔWx‖²/Σ‖Wx‖² (the ZipLM paper's formula, docs/METHODS.md; `--error total`).
  bool token_error = true;
  int threads = 2;
  // A removal order from another method's ranking, per layer (compress/rank.cpp: Minitron's
  // activation importance, least important first), used instead of OBS's greedy ε order; the
  // mode still says whether the kept columns are updated. order_name names it in the method key
  // ("" with empty orders: OBS's own order).
  std::string order_name;
  std::vector<std::vector<int>> attn_order, ffn_order;
  std::string method_key() const;  // names the level files: mode and every option that changes them
};

// One module's levels, densest first: level i keeps `kept[i]` (structure indices, ascending:
// heads or neurons of the dense module).
// error: relative output error on held-out tokens.
struct ModuleDb : ModuleLevelSet {
  std::vector<int> order;   // removal order (greedy sequence)
  bool updated = false;     // weights differ from the dense columns (stored in the file)
};

struct LayerDb {
  ModuleDb attn, ffn;
};

// Per-layer files under DIR/<model key>/<calib key>/: stats/layer-L.db and <method key>/layer-L.db.
class Database {
 public:
  Database(std::string root, const std::string& model_key, const std::string& calib_key);
  const std::string& dir() const { return dir_; }

  bool has_stats(int n_layers) const;
  void save_stats(int layer, const LayerStats& s) const;
  LayerStats load_stats(int layer) const;

  bool has_levels(const DbOptions& o, int layer) const;
  // Runs structured pruning of one layer from its statistics and writes the level file.
  void build_levels(const Model& dense, int layer, const LayerStats& s, const DbOptions& o) const;
  LayerDb load_levels(const DbOptions& o, int layer) const;
  // The compacted output projection of `layer` at level `level` (rows × kept columns), from the
  // file when the method updates weights, else the dense model's kept columns. Always in the dense
  // tensor's dtype: the file stores bf16, but a member whose updated projections ran in another
  // dtype than the dense model's would run at another speed than the latency table measured
  // (bf16 weights in f32 SmolLM2: prefill ~6 % slower than predicted, decode faster).
  Tensor level_weight(const Model& dense, const DbOptions& o, int layer, bool attn, const ModuleDb& m, int level) const;

 private:
  std::string stats_path(int layer) const;
  std::string levels_path(const DbOptions& o, int layer) const;
  const DbFile& level_file(const DbOptions& o, int layer) const;
  std::string dir_;
  mutable std::map<std::string, std::shared_ptr<DbFile>> open_;  // mapped level files
};

// Builds (or loads, when cached) the whole database for one method: statistics are collected
// only if some level file is missing. progress(label, done, total).
std::vector<LayerDb> build_database(const Model& dense, const Database& db, const CalibSet& calib,
                                        const DbOptions& o, const std::function<void(const char*, int, int)>& progress);

// FFN widths of the level grid, densest first: F, then multiples of step below it, down to 0.
std::vector<int> ffn_width_grid(int ffn_dim, int step);

}  // namespace zip

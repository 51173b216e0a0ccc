// ZipLM's rankings for the compression pipeline: the level database of one ObsMode (OBS with the
// weight update, OBS without it, magnitude), built or loaded from the database folder.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compress/ranking.h"
#include "prune/ziplm/database.h"

namespace zip {

class ZipLmRanking : public Ranking {
 public:
  // Builds the database of `o.mode` (or loads it when cached) under
  // db_root/<model key>/<calibration key>. progress(label, done, total).
  ZipLmRanking(const Model& dense, const CalibSet& calib, const std::string& db_root, const std::string& model_key,
               const DbOptions& o, const std::function<void(const char*, int, int)>& progress);

  std::string key() const override { return opt_.method_key(); }
  const ModuleLevelSet& levels(ModuleId m) const override { return module(m); }
  bool updates_weights() const override { return opt_.mode == ObsMode::Obs; }
  // Every pruned level's projection comes from the database (the dense columns for the methods
  // without update, converted to the dense tensor's dtype); level 0 is the dense one.
  std::optional<Tensor> output_weight(const Model& dense, ModuleId m, int level) const override;
  std::string cache_dir() const override;

  const ModuleDb& module(ModuleId m) const;
  const DbOptions& options() const { return opt_; }
  int n_layers() const { return int(layers_.size()); }

 private:
  Database db_;
  DbOptions opt_;
  std::vector<LayerDb> layers_;
};

}  // namespace zip

// What a pruning method gives the pipeline: per module (layer × attention/FFN), its candidate
// levels — which structures (heads or FFN neurons) each level keeps and the error the method
// predicts for it — and, for methods that update the surviving weights (ZipLM's OBS), the updated
// output projection of a level. The pipeline times the levels, searches over them, stitches the
// chosen ones and re-measures; it knows nothing else about the method.
//
// Implementations: prune/ziplm/ (OBS with and without the weight update, magnitude; from the
// level database). A method that only ranks structures by importance (e.g. Minitron's activation
// importance) supplies kept indices and an importance-based error and leaves output_weight alone:
// the stitched module is then the dense model's kept columns.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "compress/module_id.h"
#include "engine/model.h"

namespace zip {

// One module's levels, densest first (level 0 keeps every structure).
struct ModuleLevelSet {
  int structures = 0;                  // heads or neurons of the dense module
  std::vector<std::vector<int>> kept;  // per level: structure indices of the dense module, ascending
  std::vector<double> error;           // per level: the method's predicted error (0 at level 0)
  int size() const { return int(kept.size()); }
};

class Ranking {
 public:
  virtual ~Ranking() = default;
  // Names the method and every option that changes its levels: recipes are checked against it
  // and per-ranking caches are kept under it.
  virtual std::string key() const = 0;
  // The levels of module m; empty for a module the layer does not have.
  virtual const ModuleLevelSet& levels(ModuleId m) const = 0;
  // True when some level's output projection differs from the dense model's kept columns.
  virtual bool updates_weights() const { return false; }
  // The compacted output projection (rows × kept columns) of module m at `level` in the dense
  // tensor's dtype, or nullopt for the dense model's kept columns.
  virtual std::optional<Tensor> output_weight(const Model& dense, ModuleId m, int level) const {
    (void)dense, (void)m, (void)level;
    return std::nullopt;
  }
  // A folder where the pipeline may cache results that depend on this ranking (sensitivity probes).
  virtual std::string cache_dir() const = 0;
};

}  // namespace zip

#include "prune/ziplm/ziplm_ranking.h"

#include <filesystem>

namespace zip {

ZipLmRanking::ZipLmRanking(const Model& dense, const CalibSet& calib, const std::string& db_root,
                           const std::string& model_key, const DbOptions& o,
                           const std::function<void(const char*, int, int)>& progress)
    : db_(db_root, model_key, calib.key), opt_(o) {
  layers_ = build_database(dense, db_, calib, opt_, progress);
}

const ModuleDb& ZipLmRanking::module(ModuleId m) const {
  const LayerDb& l = layers_.at(size_t(m.layer));
  return m.kind == ModuleKind::Attention ? l.attn : l.ffn;
}

std::optional<Tensor> ZipLmRanking::output_weight(const Model& dense, ModuleId m, int level) const {
  if (level == 0) return std::nullopt;
  return db_.level_weight(dense, opt_, m.layer, m.kind == ModuleKind::Attention, module(m), level);
}

std::string ZipLmRanking::cache_dir() const { return (std::filesystem::path(db_.dir()) / key()).string(); }

}  // namespace zip

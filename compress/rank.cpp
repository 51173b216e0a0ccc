#include "compress/rank.h"

#include "engine/error.h"
#include "prune/ziplm/ziplm_ranking.h"

namespace zip {

namespace {

DbOptions ziplm_options(PruneMethod m, const CompressOptions& o) {
  DbOptions d;
  d.mode = m == PruneMethod::ZipLMNoUpdate ? ObsMode::ObsNoUpdate
           : m == PruneMethod::Magnitude   ? ObsMode::Magnitude
                                           : ObsMode::Obs;  // ZipLM, and uniform over ZipLM's ranking
  d.damp = o.damp, d.ffn_step = o.ffn_step, d.block = o.block, d.threads = o.threads;
  d.token_error = o.token_error;
  return d;
}

}  // namespace

std::string ranking_key(PruneMethod m, const CompressOptions& o) { return ziplm_options(m, o).method_key(); }

std::shared_ptr<const Ranking> rank(const Model& dense, PruneMethod m, const CalibSet& calib, const CompressOptions& o,
                                    const RankInputs& in) {
  const DbOptions d = ziplm_options(m, o);
  return std::make_shared<ZipLmRanking>(dense, calib, in.db_root, in.model_hash, d,
                                        [&](const char* label, int done, int total) {
                                          if (in.progress) in.progress(fmt::format("{} ({})", label, d.method_key()), done, total);
                                        });
}

}  // namespace zip

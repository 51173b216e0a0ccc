// The rank stage: the ranking a pruning method gives the pipeline. The one place that knows which
// folder implements which method (prune/ziplm/ today; prune/minitron/ next).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "compress/calibration.h"
#include "compress/options.h"
#include "compress/ranking.h"

namespace zip {

// What building a ranking may use besides the dense model and its calibration.
struct RankInputs {
  std::string db_root;     // the database folder (rankings cache their levels under it)
  std::string model_hash;  // zlm_content_hash of the dense model
  std::function<void(const std::string&, int, int)> progress;  // (label, done, total)
};

// The key of method m's ranking under `o` (methods that share a key share one ranking: uniform
// searches over ZipLM's).
std::string ranking_key(PruneMethod m, const CompressOptions& o);

std::shared_ptr<const Ranking> rank(const Model& dense, PruneMethod m, const CalibSet& calib, const CompressOptions& o,
                                    const RankInputs& in);

}  // namespace zip

// `zip compress --method minitron` (docs/COMPRESS.md): calibrate → importance (forward passes,
// prune/minitron/importance.h) → for a speedup budget, the latency table over uniform shapes
// and its hidden-size fit (compress/minitron_latency.h) → per budget: the architecture search
// (compress/minitron_search.h), the winner distilled (compress/minitron_distill.h), re-measured
// until in [0.97, 1.10] × target, evaluated, saved → report. The run state records the latency
// record, each budget's candidate table (after the selection and after each short
// distillation) and the finished members; the final distillation checkpoints under
// OUT_DIR/.minitron-kd/<budget>/, so that --resume continues where a run was killed.
// Encoders (BERT family, pooling sentence encoders): the hidden size is kept (minitron_axes),
// candidates are scored by the run's encoder loss and distilled in the encoder form
// (compress/minitron_distill.h); --eval gives STS-B Spearman.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "compress/options.h"
#include "prune/minitron/candidates.h"

namespace zip {

// The checks of a minitron run's options before any work (UsageError, one line).
void check_minitron_options(const CompressOptions& o);

// Writes OUT_DIR/minitron-<target>x.zlm (missed: ...-failed.zlm) per speedup target, or
// OUT_DIR/minitron-p<F>.zlm for --params F, report.json/md/svg and run-state.json.
nlohmann::json compress_minitron(const std::string& model_path, const CompressOptions& opt);

// The hidden-size grid step for a model of hidden size `dim` (opt.dim_step, or its default).
int minitron_dim_step(const CompressOptions& o, int dim);
// The values each axis of a candidate may take; an encoder's hidden size only its own.
minitron::ShapeAxes minitron_axes(const CompressOptions& o, const ModelConfig& c);

}  // namespace zip

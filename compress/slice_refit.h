// ZipLM's OBS update after another method's slicing (docs/METHODS.md §5.1): the kept heads and
// neurons are chosen elsewhere (Minitron's importance), then each kept module's output
// projection (W_O, W_2) is refit over its kept columns to reproduce the dense module's outputs
// on the calibration inputs (prune/ziplm/refit.h: the dampened ridge optimum).
#pragma once
#include <vector>

#include "compress/calibration.h"
#include "compress/slice.h"
#include "engine/model.h"

namespace zip {

struct CompressRun;

// The dense model's H = 2XXᵀ/N at the input of every layer's W_O and W_2, read from the ZipLM
// database's statistics (collected and saved there first when missing, so ZipLM runs on the
// same calibration share them); the held-out Gram matrices are not kept.
std::vector<LayerStats> dense_projection_hessians(CompressRun& r);

// `sliced` = slice_model(dense, spec): replaces the output projection of every module `spec`
// keeps by the refit one (in the dense tensor's float type, f32 for block-quantized ones).
// Layers absent from `spec` (kept whole) and removed modules are left as they are.
void refit_output_projections(const Model& dense, const SliceSpec& spec, const std::vector<LayerStats>& h,
                              double damp, int threads, Model& sliced);

}  // namespace zip

// Stitching: the model a choice of levels describes — the dense model sliced to each module's
// kept heads and neurons, with the ranking's (e.g. OBS-updated) output projections in place.
#pragma once
#include <utility>
#include <vector>

#include "compress/ranking.h"
#include "compress/slice.h"
#include "engine/model.h"

namespace zip {

// (query heads, KV heads) left when the query heads `kept` of a layer shaped `s` survive: a KV
// head stays while any query head that reads it does.
std::pair<int, int> attention_shape(const LayerShape& s, const std::vector<int>& kept);

// The slice spec of one level per module (`levels` indexed by module_index).
SliceSpec levels_slice(const Model& dense, const Ranking& r, const std::vector<int>& levels);

// The dense model sliced to `levels` with the ranking's output projections in place.
Model stitch_model(const Model& dense, const Ranking& r, const std::vector<int>& levels);

}  // namespace zip

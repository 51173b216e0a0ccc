// Stitching: the model a choice of levels describes — the dense model sliced to each layer's
// kept heads and neurons, with the database's (OBS-updated) output projections in place.
#pragma once
#include <utility>
#include <vector>

#include "engine/model.h"
#include "prune/ziplm/database.h"
#include "compress/slice.h"

namespace zip {

// (query heads, KV heads) left when the query heads `kept` of a layer shaped `s` survive: a KV
// head stays while any query head that reads it does.
std::pair<int, int> attention_shape(const LayerShape& s, const std::vector<int>& kept);

// The slice spec of one level per module (levels[l] indexes levels_db[l].attn / .ffn).
SliceSpec levels_slice(const Model& dense, const std::vector<LayerDb>& db, const std::vector<int>& attn_level,
                       const std::vector<int>& ffn_level);

Model stitch_model(const Model& dense, const Database& db, const DbOptions& o, const std::vector<LayerDb>& levels,
                   const std::vector<int>& attn_level, const std::vector<int>& ffn_level);

}  // namespace zip

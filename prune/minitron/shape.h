// From importance to keep-lists: a uniform target shape (the paper's default, and what stock
// runtimes load) turned into the heads, neurons, hidden channels and layers to keep, and the
// pruned model. Heads are chosen within KV groups: the KV groups with the highest group
// importance stay, and in each the same number of its most important query heads.
#pragma once
#include <functional>
#include <vector>

#include "compress/slice.h"
#include "engine/model.h"
#include "prune/minitron/importance.h"

namespace zip::minitron {

struct UniformShape {
  int n_layers = 0;
  int n_kv_heads = 0;  // per layer
  int q_per_kv = 0;    // query heads per kept KV head
  int ffn_dim = 0;
  int dim = 0;  // hidden size
};

// The shape of an unpruned uniform model (throws if its layers differ or its KV groups are uneven).
UniformShape uniform_shape_of(const ModelConfig& c);

enum class DepthScore { DropLoss, BlockImportance };

// Per layer: the n_kv_heads most important KV groups and in each the q_per_kv most important
// query heads; the ffn_dim most important neurons.
SliceSpec uniform_width_spec(const ModelConfig& c, const Importance& imp, int n_kv_heads, int q_per_kv, int ffn_dim);

// The `keep` layers with the highest score (by DropLoss needs imp.drop_loss), ascending.
std::vector<int> layers_to_keep(const Importance& imp, int keep, DepthScore by);

// Width (heads, neurons) then hidden size then depth, each from the dense model's importance.
// after_width (optional) may change the width-sliced model before the other axes are cut (the
// OBS refit of the output projections, compress/slice_refit.h).
using WidthHook = std::function<void(Model& sliced, const SliceSpec& spec)>;
Model prune_uniform(const Model& m, const Importance& imp, const UniformShape& target, DepthScore by,
                    const WidthHook& after_width = {});

}  // namespace zip::minitron

// Structured slicing by index lists: keep chosen KV heads, query heads and FFN neurons per
// layer; an empty list removes the module. This is the primitive every structured pruning
// method ends with (ZipLM, Minitron, manual `zip slice`).
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "engine/model.h"

namespace zip {

struct LayerSlice {
  std::vector<int> kv_heads;                // KV heads kept (ascending)
  std::optional<std::vector<int>> q_heads;  // query heads kept; default: all of the kept groups
  std::vector<int> ffn_neurons;             // FFN neurons kept (ascending)
};
// Layers absent from the map are kept whole.
using SliceSpec = std::map<int, LayerSlice>;

// Parses the `slice` object ({"L": {"kv_heads": [...], "q_heads": [...], "ffn_neurons": [...]}})
// and checks it against the model's current shapes: indices in range, ascending, no duplicates,
// every kept query head in a kept group, every kept group with at least one query head.
SliceSpec parse_slice_spec(const nlohmann::json& j, const ModelConfig& c);
nlohmann::json slice_spec_to_json(const SliceSpec& s);

// A new model holding copies of the kept rows/columns; the input is not modified.
Model slice_model(const Model& m, const SliceSpec& spec);

// Row / column selection on a 2-D tensor (any dtype), and row blocks of `block` rows.
Tensor take_rows(const Tensor& t, const std::vector<int>& rows, int block = 1);
Tensor take_cols(const Tensor& t, const std::vector<int>& cols, int block = 1);

}  // namespace zip

// `zip inspect`'s account of where a model came from: the provenance a converter and `zip
// compress` record, in a few lines. A member's provenance holds every kept head and neuron index
// (tens of KB); here they are counted per layer instead (`zip inspect --json` keeps all).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace zip {

// Lines without a trailing newline, each at most ~160 characters, file strings made printable.
std::vector<std::string> provenance_summary(const nlohmann::json& provenance);

// The parent's per-layer (heads, KV heads, FFN width) a member recorded ("parent"."layers"); empty
// when the model is not a member or its provenance predates the record.
struct ParentLayer {
  int heads = 0, kv_heads = 0, ffn = 0;
};
std::vector<ParentLayer> parent_layers(const nlohmann::json& provenance);

}  // namespace zip

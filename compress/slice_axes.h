// The two slicing axes besides heads and FFN neurons (compress/slice.h): the hidden size (the
// residual stream's channels, in every tensor that reads or writes it) and depth (whole layers).
// Keep-lists in, a new model out; the input is not modified. Method-agnostic: Minitron picks the
// lists from activation importance (prune/minitron/), `zip slice` could take them by hand.
#pragma once
#include <vector>

#include "engine/model.h"

namespace zip {

// Keeps the hidden channels `keep` (ascending, unique, in range, non-empty): columns of the
// embeddings, of Q/K/V, gate/up, the untied LM head, the pooler and the classifier; rows of the
// output projections W_O and W_2 and of their biases; the norms' weights and shifts; the pooler's
// rows. head_dim and the head counts stay, so n_heads·head_dim may differ from the new hidden
// size. Norms then normalise over the kept channels (their mean and variance divide by the new
// size), which is what running the smaller model does.
Model slice_hidden(const Model& m, const std::vector<int>& keep);

// Keeps the layers `keep` (ascending, unique, in range, non-empty), renumbered 0..k-1.
Model keep_layers(const Model& m, const std::vector<int>& keep);

// The complement of `drop` in 0..n-1, ascending (drop: any order, in range, unique).
std::vector<int> layers_except(int n, const std::vector<int>& drop);

}  // namespace zip

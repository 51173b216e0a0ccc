#include "compress/slice_axes.h"

#include <string>

#include "compress/slice.h"
#include "engine/error.h"

namespace zip {

static void check_keep_list(const std::vector<int>& keep, int limit, const char* what) {
  ZIP_CHECK(!keep.empty(), "slice: no {} kept", what);
  for (size_t i = 0; i < keep.size(); i++) {
    ZIP_CHECK(keep[i] >= 0 && keep[i] < limit, "slice: {} {} out of range (0..{})", what, keep[i], limit - 1);
    ZIP_CHECK(i == 0 || keep[i] > keep[i - 1], "slice: kept {}s must be ascending without duplicates", what);
  }
}

static bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Which way a tensor touches the hidden dimension, by its canonical name (engine/model.h).
enum class HiddenAxis { None, Cols, Rows, Both };

static HiddenAxis hidden_axis(const std::string& name) {
  const char* cols[] = {"tok_embd", "pos_embd", "type_embd", "output", "classifier",
                        ".attn_q",  ".attn_k",  ".attn_v",   ".ffn_gate", ".ffn_up"};
  const char* rows[] = {".attn_output", ".ffn_down", "_norm"};
  if (name == "pooler") return HiddenAxis::Both;
  if (ends_with(name, ".bias")) {
    // Biases of outputs that land in the residual stream (and norm shifts) have dim entries.
    std::string w = name.substr(0, name.size() - 5);
    for (const char* r : rows)
      if (ends_with(w, r) || w == "pooler") return HiddenAxis::Rows;
    return HiddenAxis::None;
  }
  for (const char* c : cols)
    if (name == c || (c[0] == '.' && ends_with(name, c))) return HiddenAxis::Cols;
  for (const char* r : rows)
    if (ends_with(name, r)) return HiddenAxis::Rows;
  return HiddenAxis::None;
}

Model slice_hidden(const Model& m, const std::vector<int>& keep) {
  check_keep_list(keep, m.config.dim, "hidden channel");
  Model out;
  out.config = m.config;
  out.config.dim = int(keep.size());
  out.tokenizer = m.tokenizer;
  out.provenance = m.provenance;
  for (auto& [name, t] : m.tensors) {
    switch (hidden_axis(name)) {
      case HiddenAxis::None: out.tensors[name] = t; break;
      case HiddenAxis::Cols: out.tensors[name] = take_cols(t, keep); break;
      case HiddenAxis::Rows: out.tensors[name] = take_rows(t, keep); break;
      case HiddenAxis::Both: out.tensors[name] = take_cols(take_rows(t, keep), keep); break;
    }
  }
  out.validate();
  return out;
}

std::vector<int> layers_except(int n, const std::vector<int>& drop) {
  std::vector<bool> dropped(size_t(n), false);
  for (int l : drop) {
    ZIP_CHECK(l >= 0 && l < n, "slice: layer {} out of range (0..{})", l, n - 1);
    ZIP_CHECK(!dropped[size_t(l)], "slice: layer {} dropped twice", l);
    dropped[size_t(l)] = true;
  }
  std::vector<int> keep;
  for (int l = 0; l < n; l++)
    if (!dropped[size_t(l)]) keep.push_back(l);
  return keep;
}

Model keep_layers(const Model& m, const std::vector<int>& keep) {
  check_keep_list(keep, m.config.n_layers(), "layer");
  Model out;
  out.config = m.config;
  out.config.layers.clear();
  out.tokenizer = m.tokenizer;
  out.provenance = m.provenance;
  for (auto& [name, t] : m.tensors)
    if (name.rfind("blk.", 0) != 0) out.tensors[name] = t;
  for (size_t i = 0; i < keep.size(); i++) {
    const std::string from = "blk." + std::to_string(keep[i]) + ".", to = "blk." + std::to_string(i) + ".";
    for (auto it = m.tensors.lower_bound(from); it != m.tensors.end() && it->first.rfind(from, 0) == 0; ++it)
      out.tensors[to + it->first.substr(from.size())] = it->second;
    out.config.layers.push_back(m.config.layers[size_t(keep[i])]);
  }
  out.validate();
  return out;
}

}  // namespace zip

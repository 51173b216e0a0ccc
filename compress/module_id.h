// A prunable module of a transformer: one layer's attention or its FFN. The search works on flat
// per-module arrays (layer by layer, attention before FFN); module_index / module_at are the one
// place that maps between a ModuleId and its position in those arrays.
#pragma once
#include <vector>

namespace zip {

enum class ModuleKind { Attention, Ffn };
inline constexpr ModuleKind kModuleKinds[] = {ModuleKind::Attention, ModuleKind::Ffn};
inline const char* module_kind_name(ModuleKind k) { return k == ModuleKind::Attention ? "attn" : "ffn"; }

struct ModuleId {
  int layer = 0;
  ModuleKind kind = ModuleKind::Attention;
  bool operator==(const ModuleId&) const = default;
};

inline int module_count(int n_layers) { return 2 * n_layers; }
inline int module_index(ModuleId m) { return 2 * m.layer + (m.kind == ModuleKind::Ffn ? 1 : 0); }
inline ModuleId module_at(int index) { return {index / 2, index % 2 ? ModuleKind::Ffn : ModuleKind::Attention}; }

// One level per module (indexed by module_index), split into the per-layer lists a recipe stores.
struct LayerLevels {
  std::vector<int> attn, ffn;
};
inline LayerLevels split_levels(const std::vector<int>& per_module) {
  LayerLevels out;
  for (int i = 0; i < int(per_module.size()); i++)
    (module_at(i).kind == ModuleKind::Attention ? out.attn : out.ffn).push_back(per_module[size_t(i)]);
  return out;
}
inline std::vector<int> join_levels(const LayerLevels& l) {
  std::vector<int> out(size_t(module_count(int(l.attn.size()))));
  for (int layer = 0; layer < int(l.attn.size()); layer++) {
    out[size_t(module_index({layer, ModuleKind::Attention}))] = l.attn[size_t(layer)];
    out[size_t(module_index({layer, ModuleKind::Ffn}))] = l.ffn.at(size_t(layer));
  }
  return out;
}

}  // namespace zip

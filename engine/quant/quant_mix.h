// Weight-type mixes: which type each weight of a model gets for `zip quantize --type MIX`, after
// llama.cpp's llama_tensor_get_type (src/llama-quant.cpp) for the same ftype. docs/MODELS.md
// states the rule; tests/test_quant_mix.cpp checks it on small models.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "engine/config.h"
#include "engine/dtype.h"

namespace zip::quant {

enum class QuantMix { F32, F16, BF16, Q8_0, Q4_0, Q4_K_M, Q4_K_S, Q6_K, Q5_0 };

// "f32" "f16" "bf16" "q8_0" "q4_0" "q4_k_m" "q4_k_s" "q6_k" "q5_0" (also "q4_k", as q4_k_m); false if unknown.
bool parse_quant_mix(std::string_view s, QuantMix* out);
const char* quant_mix_name(QuantMix m);
inline constexpr const char* kQuantMixNames = "f32, f16, bf16, q8_0, q4_0, q5_0, q4_k_m, q4_k_s or q6_k";
inline bool is_float_mix(QuantMix m) { return m == QuantMix::F32 || m == QuantMix::F16 || m == QuantMix::BF16; }
// The row length a multiple of which the mix quantises without an f16 fallback: 1 (float), 32
// (every block mix: the K mixes fall back to Q5_0 / Q8_0 on rows that are not whole 256-blocks).
inline int mix_block_elems(QuantMix m) { return is_float_mix(m) ? 1 : 32; }

// The type of every expected tensor of `c` under `mix`, in expected_tensors order (names beside).
struct TensorType {
  std::string name;
  DType type;
  bool fell_back;  // the mix's type did not fit the row length (llama.cpp's tensor_type_fallback)
};
std::vector<TensorType> mix_tensor_types(const ModelConfig& c, QuantMix mix);

}  // namespace zip::quant

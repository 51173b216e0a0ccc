// The mix rule. Float mixes: every matrix in the mix's type. Block mixes, as llama.cpp for the
// same ftype (Q5_K, which zip lacks, replaced by the next larger type zip has, Q6_K):
//   the LM head (or the token embedding when tied):  Q6_K, or Q8_0 when the mix is q8_0 or the row
//     is not a whole number of 256-element super-blocks
//   attn_v / ffn_down, q4_k_m:  Q6_K in the layers use_more_bits picks (the first and last eighth
//     of the layers and every third one between), Q4_K elsewhere
//   attn_v, q4_k_s:  Q6_K (llama.cpp: Q5_K) in the first 4 attention layers
//   ffn_down, q4_k_s:  Q6_K (llama.cpp: Q5_K) in the first eighth of the FFN layers
//   every other matrix (incl. an untied token embedding, the BERT pooler):  the mix's base type
//   norms, biases, 1-D tensors, position and token-type embeddings:  f32
// Then llama.cpp's fallback for a row length that is not a whole number of blocks: Q4_K → Q5_0,
// Q6_K → Q8_0 (llama.cpp's Q5_K → Q5_1 becomes Q6_K → Q8_0 here), and a row that is not a
// multiple of 32 either → f16.
#include "engine/quant/quant_mix.h"

#include "engine/model.h"

namespace zip::quant {

namespace {

struct MixInfo {
  const char* name;
  QuantMix mix;
};
constexpr MixInfo kMixes[] = {{"f32", QuantMix::F32},       {"f16", QuantMix::F16},       {"bf16", QuantMix::BF16},
                              {"q8_0", QuantMix::Q8_0},     {"q4_0", QuantMix::Q4_0},     {"q4_k_m", QuantMix::Q4_K_M},
                              {"q4_k_s", QuantMix::Q4_K_S}, {"q6_k", QuantMix::Q6_K},
                              {"q5_0", QuantMix::Q5_0}};

DType base_type(QuantMix m) {
  switch (m) {
    case QuantMix::F32: return DType::F32;
    case QuantMix::F16: return DType::F16;
    case QuantMix::BF16: return DType::BF16;
    case QuantMix::Q8_0: return DType::Q8_0;
    case QuantMix::Q4_0: return DType::Q4_0;
    case QuantMix::Q5_0: return DType::Q5_0;
    case QuantMix::Q6_K: return DType::Q6_K;
    default: return DType::Q4_K;
  }
}

// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third between.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

bool ends_with(const std::string& s, const char* suffix) {
  const std::string_view t(suffix);
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

// llama.cpp's tensor_type_fallback, with the types zip has: a 256-block type to its 32-block
// fallback, a 32-block type has none; f16 where the fallback does not fit either.
DType fallback(DType want, int64_t row, bool* fell_back) {
  *fell_back = row % dtype_block_elems(want) != 0;
  if (!*fell_back) return want;
  const DType next = want == DType::Q4_K ? DType::Q5_0 : want == DType::Q6_K ? DType::Q8_0 : want;
  return row % dtype_block_elems(next) == 0 ? next : DType::F16;
}

}  // namespace

bool parse_quant_mix(std::string_view s, QuantMix* out) {
  if (s == "q4_k") s = "q4_k_m";
  for (const MixInfo& m : kMixes)
    if (s == m.name) {
      *out = m.mix;
      return true;
    }
  return false;
}

const char* quant_mix_name(QuantMix m) {
  for (const MixInfo& i : kMixes)
    if (i.mix == m) return i.name;
  return "?";
}

std::vector<TensorType> mix_tensor_types(const ModelConfig& c, QuantMix mix) {
  const std::vector<TensorSpec> specs = expected_tensors(c);
  int n_attn_v = 0, n_ffn_down = 0;
  for (const TensorSpec& s : specs) {
    n_attn_v += ends_with(s.name, ".attn_v");
    n_ffn_down += ends_with(s.name, ".ffn_down");
  }
  int i_attn_v = 0, i_ffn_down = 0;
  const DType base = base_type(mix);
  std::vector<TensorType> out;
  for (const TensorSpec& s : specs) {
    TensorType t{s.name, DType::F32, false};
    const bool matrix = s.shape.size() == 2 && s.name != "pos_embd" && s.name != "type_embd";
    if (!matrix) {
      out.push_back(t);
      continue;
    }
    t.type = base;
    if (is_float(base)) {
      out.push_back(t);
      continue;
    }
    if (s.name == "output" || (s.name == "tok_embd" && c.tied_embeddings)) {
      const bool whole_super_blocks = s.shape[1] % dtype_block_elems(DType::Q6_K) == 0;
      t.type = base != DType::Q8_0 && whole_super_blocks ? DType::Q6_K : DType::Q8_0;
    } else if (ends_with(s.name, ".attn_v")) {
      if (mix == QuantMix::Q4_K_M && use_more_bits(i_attn_v, n_attn_v)) t.type = DType::Q6_K;
      if (mix == QuantMix::Q4_K_S && i_attn_v < 4) t.type = DType::Q6_K;
      i_attn_v++;
    } else if (ends_with(s.name, ".ffn_down")) {
      if (mix == QuantMix::Q4_K_M && use_more_bits(i_ffn_down, n_ffn_down)) t.type = DType::Q6_K;
      if (mix == QuantMix::Q4_K_S && i_ffn_down < n_ffn_down / 8) t.type = DType::Q6_K;
      i_ffn_down++;
    }
    t.type = fallback(t.type, s.shape[1], &t.fell_back);
    out.push_back(t);
  }
  return out;
}

}  // namespace zip::quant

// GGUF export of Llama-family models: `llama` for uniform models, `deci` (per-layer arrays) for
// per-layer shapes, padded where llama.cpp's deci graph would compute something else (export.h).
// The engine's tensors already have llama.cpp's names (+ ".weight") and layouts: [out, in]
// row-major is ggml's ne = [in, out], and q/k rows are in the adjacent-pair RoPE order llama.cpp's
// converter produces, so weights are written as they are.
#include <cstring>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "models/export.h"
#include "models/gguf_export_tokenizer.h"
#include "models/gguf_bert.h"
#include "models/gguf_writer.h"
#include "models/tensor_concat.h"

namespace zip {

namespace {

// What one layer looks like in the file: query heads padded to even groups, FFN padded to width 1
// where llama.cpp needs one.
struct FileLayer {
  int n_heads = 0, n_kv = 0, group = 0;  // group = largest q_per_kv entry
  int ffn = 0;
  bool pad_heads = false, pad_ffn = false, pad_attn = false;
};

bool is_uniform(const ModelConfig& c) {
  for (const LayerShape& s : c.layers) {
    if (!(s == c.layers[0]) || !s.has_attention() || !s.has_ffn()) return false;
    for (int g : s.q_per_kv)
      if (g != s.q_per_kv[0]) return false;
  }
  return !c.layers.empty();
}

std::vector<FileLayer> plan_layers(const ModelConfig& c) {
  std::vector<FileLayer> out;
  for (int l = 0; l < c.n_layers(); l++) {
    const LayerShape& s = c.layers[size_t(l)];
    FileLayer f;
    f.n_kv = s.n_kv_heads();
    for (int g : s.q_per_kv) f.group = std::max(f.group, g);
    f.n_heads = f.group * f.n_kv;
    f.pad_heads = f.n_heads != s.n_heads();
    // llama.cpp's deci skips the whole residual update of an FFN-free layer (losing its attention
    // output) and aborts when the last layer has none; an attention- and FFN-free layer elsewhere
    // is an identity it runs correctly.
    f.pad_ffn = !s.has_ffn() && (s.has_attention() || l + 1 == c.n_layers());
    f.ffn = f.pad_ffn ? 1 : s.ffn_dim;
    // llama.cpp takes the model's head_dim defaults and its "has attention at all" from layer 0's
    // head count: an attention-free first layer gets one zero head (zero attn_output).
    f.pad_attn = l == 0 && !s.has_attention();
    if (f.pad_attn) f.n_heads = f.n_kv = f.group = 1;
    out.push_back(f);
  }
  return out;
}

// Query rows of `w` ([n_heads*hd, dim]) placed in even groups of `f.group` per KV head, zero rows
// for the padding heads.
Tensor pad_q_rows(const Tensor& w, const LayerShape& s, const FileLayer& f, int hd) {
  Tensor out = Tensor::zeros(w.dtype, {int64_t(f.n_heads) * hd, w.dim(1)});
  const size_t head_bytes = dtype_row_bytes(w.dtype, w.dim(1)) * size_t(hd);
  int src = 0;
  for (int k = 0; k < f.n_kv; k++)
    for (int j = 0; j < s.q_per_kv[size_t(k)]; j++, src++)
      std::memcpy(static_cast<uint8_t*>(out.data) + size_t(k * f.group + j) * head_bytes,
                  static_cast<const uint8_t*>(w.data) + size_t(src) * head_bytes, head_bytes);
  return out;
}

// attn_output ([dim, n_heads*hd]) with zero columns for the padding heads. A block type whose
// blocks do not fit a head's columns is widened to f32 (exact).
Tensor pad_output_cols(const Tensor& w, const LayerShape& s, const FileLayer& f, int hd) {
  const Tensor src = hd % dtype_block_elems(w.dtype) == 0 ? w : w.converted(DType::F32);
  Tensor out = Tensor::zeros(src.dtype, {src.dim(0), int64_t(f.n_heads) * hd});
  const size_t head_bytes = dtype_row_bytes(src.dtype, hd);
  const size_t in_row = dtype_row_bytes(src.dtype, src.dim(1)), out_row = dtype_row_bytes(src.dtype, out.dim(1));
  for (int64_t r = 0; r < src.dim(0); r++) {
    int h = 0;
    for (int k = 0; k < f.n_kv; k++)
      for (int j = 0; j < s.q_per_kv[size_t(k)]; j++, h++)
        std::memcpy(static_cast<uint8_t*>(out.data) + size_t(r) * out_row + size_t(k * f.group + j) * head_bytes,
                    static_cast<const uint8_t*>(src.data) + size_t(r) * in_row + size_t(h) * head_bytes, head_bytes);
  }
  return out;
}

void add_zero_ffn(gguf::Writer& w, int l, int dim) {
  w.add_tensor(layer_tensor(l, "ffn_norm") + ".weight", Tensor::from_floats(std::vector<float>(size_t(dim), 1.0f), {dim}));
  w.add_tensor(layer_tensor(l, "ffn_gate") + ".weight", Tensor::zeros(DType::F32, {1, dim}));
  w.add_tensor(layer_tensor(l, "ffn_up") + ".weight", Tensor::zeros(DType::F32, {1, dim}));
  w.add_tensor(layer_tensor(l, "ffn_down") + ".weight", Tensor::zeros(DType::F32, {dim, 1}));
}

void add_zero_attention(gguf::Writer& w, int l, int dim, int hd) {
  w.add_tensor(layer_tensor(l, "attn_norm") + ".weight", Tensor::from_floats(std::vector<float>(size_t(dim), 1.0f), {dim}));
  for (const char* n : {"attn_q", "attn_k", "attn_v"})
    w.add_tensor(layer_tensor(l, n) + ".weight", Tensor::zeros(DType::F32, {hd, dim}));
  w.add_tensor(layer_tensor(l, "attn_output") + ".weight", Tensor::zeros(DType::F32, {dim, hd}));
}

void write_llama_tensors(gguf::Writer& w, const Model& m, const std::vector<FileLayer>& plan) {
  const ModelConfig& c = m.config;
  w.add_tensor("token_embd.weight", m.get("tok_embd"));
  for (int l = 0; l < c.n_layers(); l++) {
    const LayerShape& s = c.layers[size_t(l)];
    const FileLayer& f = plan[size_t(l)];
    auto put = [&](const char* what, const Tensor& t) { w.add_tensor(layer_tensor(l, what) + ".weight", t); };
    auto get = [&](const char* what) -> const Tensor& { return m.get(layer_tensor(l, what)); };
    if (s.has_attention()) {
      put("attn_norm", get("attn_norm"));
      put("attn_q", f.pad_heads ? pad_q_rows(get("attn_q"), s, f, c.head_dim) : get("attn_q"));
      put("attn_k", get("attn_k"));
      put("attn_v", get("attn_v"));
      put("attn_output", f.pad_heads ? pad_output_cols(get("attn_output"), s, f, c.head_dim) : get("attn_output"));
    } else if (f.pad_attn) {
      add_zero_attention(w, l, c.dim, c.head_dim);
    }
    if (s.has_ffn()) {
      put("ffn_norm", get("ffn_norm"));
      put("ffn_gate", get("ffn_gate"));
      put("ffn_up", get("ffn_up"));
      put("ffn_down", get("ffn_down"));
    } else if (f.pad_ffn) {
      add_zero_ffn(w, l, c.dim);
    }
  }
  w.add_tensor("output_norm.weight", m.get("output_norm"));
  if (!c.tied_embeddings) w.add_tensor("output.weight", m.get("output"));
}

void write_llama_metadata(gguf::Writer& w, const ModelConfig& c, const std::string& a,
                          const std::vector<FileLayer>& plan) {
  w.set_u32(a + ".vocab_size", uint32_t(c.vocab_size));
  w.set_u32(a + ".context_length", uint32_t(c.max_seq_len));
  w.set_u32(a + ".embedding_length", uint32_t(c.dim));
  w.set_u32(a + ".block_count", uint32_t(c.n_layers()));
  if (a == "llama") {
    w.set_u32(a + ".feed_forward_length", uint32_t(plan[0].ffn));
    w.set_u32(a + ".attention.head_count", uint32_t(plan[0].n_heads));
    w.set_u32(a + ".attention.head_count_kv", uint32_t(plan[0].n_kv));
  } else {
    std::vector<int32_t> ffn, heads, kv;
    for (const FileLayer& f : plan) {
      ffn.push_back(f.ffn);
      heads.push_back(f.n_heads);
      kv.push_back(f.n_kv);
    }
    w.set_i32_array(a + ".feed_forward_length", ffn);
    w.set_i32_array(a + ".attention.head_count", heads);
    w.set_i32_array(a + ".attention.head_count_kv", kv);
  }
  // llama.cpp derives head_dim as dim / head_count(layer 0) unless key_length is given; deci
  // layers may have no heads, so it is always given there.
  if (a == "deci" || int64_t(plan[0].n_heads) * c.head_dim != c.dim) {
    w.set_u32(a + ".attention.key_length", uint32_t(c.head_dim));
    w.set_u32(a + ".attention.value_length", uint32_t(c.head_dim));
  }
  w.set_u32(a + ".rope.dimension_count", uint32_t(c.head_dim));
  w.set_f32(a + ".rope.freq_base", c.rope_theta);
  w.set_f32(a + ".attention.layer_norm_rms_epsilon", c.norm_eps);
}

ExportResult export_llama(const Model& m, gguf::Writer& w) {
  const ModelConfig& c = m.config;
  ExportResult r;
  r.arch = is_uniform(c) ? "llama" : "deci";
  const std::vector<FileLayer> plan = plan_layers(c);
  w.set_str("general.architecture", r.arch);
  write_llama_metadata(w, c, r.arch, plan);
  int padded_ffn = 0, padded_heads = 0, padded_attn = 0;
  for (int l = 0; l < c.n_layers(); l++) {
    const FileLayer& f = plan[size_t(l)];
    if (f.pad_ffn) padded_ffn++;
    if (f.pad_attn) padded_attn++;
    else padded_heads += f.n_heads - c.layers[size_t(l)].n_heads();
  }
  r.padded_params = int64_t(padded_ffn) * 4 * c.dim + int64_t(padded_heads) * 2 * c.head_dim * c.dim +
                    int64_t(padded_attn) * (4 * c.head_dim * c.dim + c.dim);
  if (padded_attn)
    r.notes.push_back("the attention-free first layer got one zero attention head (llama.cpp reads head_dim and "
                      "whether the model has attention from layer 0)");
  if (padded_ffn)
    r.notes.push_back(fmt::format("{} FFN-free layer(s) got a zero FFN of width 1 (llama.cpp's deci drops the "
                                  "attention output of FFN-free layers)",
                                  padded_ffn));
  if (padded_heads)
    r.notes.push_back(fmt::format("{} zero query head(s) even out uneven query groups per KV head (llama.cpp "
                                  "assumes equal groups); each costs one head of attention compute",
                                  padded_heads));
  if (padded_ffn || padded_heads || padded_attn) {
    nlohmann::json shapes = nlohmann::json::array();
    for (const LayerShape& s : c.layers) shapes.push_back({{"q_per_kv", s.q_per_kv}, {"ffn_dim", s.ffn_dim}});
    w.set_str("zip.layer_shapes", shapes.dump());
  }
  write_llama_tensors(w, m, plan);
  return r;
}

// gpt2: uniform layers only (llama.cpp's graph has one head count and head_dim = dim / heads);
// q/k/v fused into attn_qkv as llama.cpp's converter writes c_attn.
ExportResult export_gpt2(const Model& m, gguf::Writer& w) {
  const ModelConfig& c = m.config;
  const LayerShape& s0 = c.layers.at(0);
  bool uniform = s0.has_attention() && s0.has_ffn() && int64_t(s0.n_heads()) * c.head_dim == c.dim;
  for (const LayerShape& s : c.layers) uniform = uniform && s == s0;
  for (int g : s0.q_per_kv) uniform = uniform && g == 1;
  ZIP_CHECK(uniform,
            "GGUF export: llama.cpp's gpt2 needs every layer whole (all heads, head_dim × heads = hidden size, an FFN); "
            "this model is pruned per layer");
  const std::string a = "gpt2";
  w.set_str("general.architecture", a);
  w.set_u32(a + ".vocab_size", uint32_t(c.vocab_size));
  w.set_u32(a + ".context_length", uint32_t(c.max_seq_len));
  w.set_u32(a + ".embedding_length", uint32_t(c.dim));
  w.set_u32(a + ".feed_forward_length", uint32_t(s0.ffn_dim));
  w.set_u32(a + ".block_count", uint32_t(c.n_layers()));
  w.set_u32(a + ".attention.head_count", uint32_t(s0.n_heads()));
  w.set_f32(a + ".attention.layer_norm_epsilon", c.norm_eps);
  w.add_tensor("token_embd.weight", m.get("tok_embd"));
  w.add_tensor("position_embd.weight", m.get("pos_embd"));
  for (int l = 0; l < c.n_layers(); l++) {
    auto get = [&](const std::string& what) -> const Tensor& { return m.get(layer_tensor(l, what.c_str())); };
    auto put = [&](const std::string& what, const Tensor& t) {
      const std::string base = layer_tensor(l, what.c_str());
      w.add_tensor(what.ends_with(".bias") ? base : base + ".weight", t);
    };
    for (const char* n : {"attn_norm", "attn_norm.bias"}) put(n, get(n));
    put("attn_qkv", concat_rows({get("attn_q"), get("attn_k"), get("attn_v")}));
    put("attn_qkv.bias", concat_rows({get("attn_q.bias"), get("attn_k.bias"), get("attn_v.bias")}));
    for (const char* n : {"attn_output", "attn_output.bias", "ffn_norm", "ffn_norm.bias", "ffn_up", "ffn_up.bias",
                          "ffn_down", "ffn_down.bias"})
      put(n, get(n));
  }
  w.add_tensor("output_norm.weight", m.get("output_norm"));
  w.add_tensor("output_norm.bias", m.get("output_norm.bias"));
  if (!c.tied_embeddings) w.add_tensor("output.weight", m.get("output"));
  ExportResult r;
  r.arch = a;
  return r;
}

}  // namespace

ExportResult export_gguf(const Model& m, const std::string& path) {
  m.validate();
  gguf::Writer w;
  w.set_str("general.architecture", m.config.info().name);  // first, as llama.cpp's converter; set below
  const auto name = m.provenance.find("source_name");
  w.set_str("general.name", name != m.provenance.end() && name->is_string() ? name->get<std::string>() : "zip export");
  ExportResult r;
  switch (m.config.arch) {
    case Arch::Llama: r = export_llama(m, w); break;
    case Arch::GPT2: r = export_gpt2(m, w); break;
    case Arch::BERT: r = export_gguf_bert(m, w); break;
  }
  if (m.tokenizer) write_gguf_tokenizer(w, *m.tokenizer, m.config.vocab_size);
  else r.notes.push_back("the model has no tokenizer: llama.cpp needs one to run it");
  w.write(path);
  return r;
}

}  // namespace zip

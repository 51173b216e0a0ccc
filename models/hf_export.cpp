// Hugging Face export: config.json + model.safetensors (+ tokenizer files, hf_export_tokenizer.cpp)
// for uniform models, the inverse of hf_llama_import / hf_gpt2_import / hf_bert_import:
//   Llama → LlamaForCausalLM (head_dim explicit; q/k rows back to HF's rotate_half order),
//   GPT-2 → GPT2LMHeadModel (Conv1D weights transposed, q/k/v fused into c_attn),
//   BERT  → BertModel, or BertForSequenceClassification when the model has a classifier.
// Per-layer shapes are refused: transformers' Llama has one shape for all layers (DeciLM's
// block_configs would need trust_remote_code and cannot express uneven query groups either);
// export them to GGUF (`deci`) instead. Block-quantized weights are dequantised to f32 (exact:
// the f32 values are the ones the engine computes with), with a note.
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/file_io.h"
#include "models/export.h"
#include "models/hf_export_files.h"
#include "models/safetensors_writer.h"
#include "models/tensor_concat.h"

namespace zip {

using json = nlohmann::ordered_json;

namespace {

using Entries = std::vector<std::pair<std::string, Tensor>>;

// A float in its shortest decimal spelling (1e-05, not 9.999999747378752e-06).
double shortest(float x) { return std::stod(fmt::format("{}", x)); }

void require_uniform(const ModelConfig& c, const char* cls) {
  const LayerShape& s0 = c.layers.at(0);
  bool ok = s0.has_attention() && s0.has_ffn();
  for (const LayerShape& s : c.layers) ok = ok && s == s0;
  for (int g : s0.q_per_kv) ok = ok && g == s0.q_per_kv[0];
  ZIP_CHECK(ok,
            "HF export: this model has per-layer shapes (pruned heads, KV groups or FFN widths differ between layers, "
            "or modules are removed), which {} cannot express; export it with --to gguf (llama.cpp's 'deci')",
            cls);
}

// HF's rotate_half order from the engine's adjacent pairs: row i = old 2i, row i + hd/2 = old 2i+1.
Tensor rope_rows_to_half(const Tensor& w, int n_heads, int head_dim) {
  Tensor out = Tensor::zeros(w.dtype, w.shape);
  const size_t row = dtype_row_bytes(w.dtype, w.dim(1));
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; h++)
    for (int i = 0; i < half; i++) {
      const size_t base = size_t(h) * size_t(head_dim);
      std::memcpy(static_cast<uint8_t*>(out.data) + (base + size_t(i)) * row,
                  static_cast<const uint8_t*>(w.data) + (base + 2 * size_t(i)) * row, row);
      std::memcpy(static_cast<uint8_t*>(out.data) + (base + size_t(i + half)) * row,
                  static_cast<const uint8_t*>(w.data) + (base + 2 * size_t(i) + 1) * row, row);
    }
  return out;
}

Tensor transpose(const Tensor& t) {
  Tensor out = Tensor::zeros(t.dtype, {t.dim(1), t.dim(0)});
  const size_t e = dtype_size(t.dtype);
  for (int64_t r = 0; r < t.dim(0); r++)
    for (int64_t c = 0; c < t.dim(1); c++)
      std::memcpy(static_cast<uint8_t*>(out.data) + size_t(c * t.dim(0) + r) * e,
                  static_cast<const uint8_t*>(t.data) + size_t(r * t.dim(1) + c) * e, e);
  return out;
}

json llama_tensors(const Model& m, Entries& out) {
  const ModelConfig& c = m.config;
  require_uniform(c, "LlamaForCausalLM");
  const LayerShape& s = c.layers[0];
  out.emplace_back("model.embed_tokens.weight", m.get("tok_embd"));
  for (int l = 0; l < c.n_layers(); l++) {
    const std::string p = fmt::format("model.layers.{}.", l);
    auto get = [&](const char* w) -> const Tensor& { return m.get(layer_tensor(l, w)); };
    out.emplace_back(p + "input_layernorm.weight", get("attn_norm"));
    out.emplace_back(p + "self_attn.q_proj.weight", rope_rows_to_half(get("attn_q"), s.n_heads(), c.head_dim));
    out.emplace_back(p + "self_attn.k_proj.weight", rope_rows_to_half(get("attn_k"), s.n_kv_heads(), c.head_dim));
    out.emplace_back(p + "self_attn.v_proj.weight", get("attn_v"));
    out.emplace_back(p + "self_attn.o_proj.weight", get("attn_output"));
    out.emplace_back(p + "post_attention_layernorm.weight", get("ffn_norm"));
    out.emplace_back(p + "mlp.gate_proj.weight", get("ffn_gate"));
    out.emplace_back(p + "mlp.up_proj.weight", get("ffn_up"));
    out.emplace_back(p + "mlp.down_proj.weight", get("ffn_down"));
  }
  out.emplace_back("model.norm.weight", m.get("output_norm"));
  if (!c.tied_embeddings) out.emplace_back("lm_head.weight", m.get("output"));
  return {{"architectures", {"LlamaForCausalLM"}},
          {"model_type", "llama"},
          {"hidden_size", c.dim},
          {"intermediate_size", s.ffn_dim},
          {"num_hidden_layers", c.n_layers()},
          {"num_attention_heads", s.n_heads()},
          {"num_key_value_heads", s.n_kv_heads()},
          {"head_dim", c.head_dim},
          {"hidden_act", "silu"},
          {"max_position_embeddings", c.max_seq_len},
          {"rms_norm_eps", shortest(c.norm_eps)},
          {"rope_theta", shortest(c.rope_theta)},
          {"attention_bias", false},
          {"mlp_bias", false},
          {"tie_word_embeddings", c.tied_embeddings},
          {"vocab_size", c.vocab_size}};
}

json gpt2_tensors(const Model& m, Entries& out) {
  const ModelConfig& c = m.config;
  require_uniform(c, "GPT2LMHeadModel");
  ZIP_CHECK(c.layers[0].q_per_kv[0] == 1 && c.head_dim * c.layers[0].n_heads() == c.dim,
            "HF export: GPT-2 needs one KV head per query head and head_dim × heads = hidden size");
  out.emplace_back("transformer.wte.weight", m.get("tok_embd"));
  out.emplace_back("transformer.wpe.weight", m.get("pos_embd"));
  for (int l = 0; l < c.n_layers(); l++) {
    const std::string h = fmt::format("transformer.h.{}.", l);
    auto get = [&](const std::string& w) -> const Tensor& { return m.get(layer_tensor(l, w.c_str())); };
    out.emplace_back(h + "ln_1.weight", get("attn_norm"));
    out.emplace_back(h + "ln_1.bias", get("attn_norm.bias"));
    out.emplace_back(h + "attn.c_attn.weight", transpose(concat_rows({get("attn_q"), get("attn_k"), get("attn_v")})));
    out.emplace_back(h + "attn.c_attn.bias", concat_rows({get("attn_q.bias"), get("attn_k.bias"), get("attn_v.bias")}));
    out.emplace_back(h + "attn.c_proj.weight", transpose(get("attn_output")));
    out.emplace_back(h + "attn.c_proj.bias", get("attn_output.bias"));
    out.emplace_back(h + "ln_2.weight", get("ffn_norm"));
    out.emplace_back(h + "ln_2.bias", get("ffn_norm.bias"));
    out.emplace_back(h + "mlp.c_fc.weight", transpose(get("ffn_up")));
    out.emplace_back(h + "mlp.c_fc.bias", get("ffn_up.bias"));
    out.emplace_back(h + "mlp.c_proj.weight", transpose(get("ffn_down")));
    out.emplace_back(h + "mlp.c_proj.bias", get("ffn_down.bias"));
  }
  out.emplace_back("transformer.ln_f.weight", m.get("output_norm"));
  out.emplace_back("transformer.ln_f.bias", m.get("output_norm.bias"));
  if (!c.tied_embeddings) out.emplace_back("lm_head.weight", m.get("output"));
  return {{"architectures", {"GPT2LMHeadModel"}},
          {"model_type", "gpt2"},
          {"n_embd", c.dim},
          {"n_layer", c.n_layers()},
          {"n_head", c.layers[0].n_heads()},
          {"n_positions", c.max_seq_len},
          {"n_inner", c.layers[0].ffn_dim},
          {"activation_function", "gelu_new"},
          {"layer_norm_epsilon", shortest(c.norm_eps)},
          {"tie_word_embeddings", c.tied_embeddings},
          {"vocab_size", c.vocab_size}};
}

json bert_tensors(const Model& m, Entries& out) {
  const ModelConfig& c = m.config;
  require_uniform(c, "BertModel");
  ZIP_CHECK(c.layers[0].q_per_kv[0] == 1 && c.head_dim * c.layers[0].n_heads() == c.dim,
            "HF export: BERT needs one KV head per query head and head_dim × heads = hidden size");
  const bool cls = !c.labels.empty();
  ZIP_CHECK(!cls || c.pooling.empty(),
            "HF export: a BERT with both a classifier and sentence pooling has no Hugging Face form");
  const std::string p = cls ? "bert." : "";
  auto both = [&](const std::string& hf, const std::string& name) {
    out.emplace_back(p + hf + ".weight", m.get(name));
    out.emplace_back(p + hf + ".bias", m.get(name + ".bias"));
  };
  out.emplace_back(p + "embeddings.word_embeddings.weight", m.get("tok_embd"));
  out.emplace_back(p + "embeddings.position_embeddings.weight", m.get("pos_embd"));
  out.emplace_back(p + "embeddings.token_type_embeddings.weight", m.get("type_embd"));
  both("embeddings.LayerNorm", "embd_norm");
  for (int l = 0; l < c.n_layers(); l++) {
    const std::string e = fmt::format("encoder.layer.{}.", l);
    both(e + "attention.self.query", layer_tensor(l, "attn_q"));
    both(e + "attention.self.key", layer_tensor(l, "attn_k"));
    both(e + "attention.self.value", layer_tensor(l, "attn_v"));
    both(e + "attention.output.dense", layer_tensor(l, "attn_output"));
    both(e + "attention.output.LayerNorm", layer_tensor(l, "attn_out_norm"));
    both(e + "intermediate.dense", layer_tensor(l, "ffn_up"));
    both(e + "output.dense", layer_tensor(l, "ffn_down"));
    both(e + "output.LayerNorm", layer_tensor(l, "ffn_out_norm"));
  }
  if (c.pooler) both("pooler.dense", "pooler");
  json cfg = {{"architectures", {cls ? "BertForSequenceClassification" : "BertModel"}},
              {"model_type", "bert"},
              {"hidden_size", c.dim},
              {"num_hidden_layers", c.n_layers()},
              {"num_attention_heads", c.layers[0].n_heads()},
              {"intermediate_size", c.layers[0].ffn_dim},
              {"hidden_act", "gelu"},
              {"max_position_embeddings", c.max_seq_len},
              {"type_vocab_size", c.n_token_types},
              {"layer_norm_eps", shortest(c.norm_eps)},
              {"vocab_size", c.vocab_size}};
  if (cls) {
    out.emplace_back("classifier.weight", m.get("classifier"));
    out.emplace_back("classifier.bias", m.get("classifier.bias"));
    json id2label = json::object(), label2id = json::object();
    for (size_t i = 0; i < c.labels.size(); i++) {
      id2label[std::to_string(i)] = c.labels[i];
      label2id[c.labels[i]] = i;
    }
    cfg["id2label"] = id2label;
    cfg["label2id"] = label2id;
  }
  return cfg;
}

}  // namespace

ExportResult export_hf(const Model& m, const std::string& dir) {
  m.validate();
  ExportResult r;
  Entries tensors;
  json cfg;
  switch (m.config.arch) {
    case Arch::Llama: cfg = llama_tensors(m, tensors); break;
    case Arch::GPT2: cfg = gpt2_tensors(m, tensors); break;
    case Arch::BERT: cfg = bert_tensors(m, tensors); break;
  }
  r.arch = cfg["architectures"][0].get<std::string>();
  bool dequantised = false;
  std::string dtype = "float32";
  for (auto& [name, t] : tensors) {
    if (is_quantized(t.dtype)) {
      t = t.converted(DType::F32);
      dequantised = true;
    }
    if (t.ndim() == 2 && t.dtype != DType::F32) dtype = t.dtype == DType::F16 ? "float16" : "bfloat16";
  }
  if (dequantised)
    r.notes.push_back("block-quantized weights were dequantised to f32 (safetensors has no GGUF block types)");
  cfg["torch_dtype"] = dtype;
  if (m.tokenizer) {
    const TokenizerData& t = *m.tokenizer;
    for (auto [key, id] : {std::pair{"bos_token_id", t.bos}, {"eos_token_id", t.eos}, {"pad_token_id", t.pad}})
      if (id >= 0 && m.config.arch != Arch::BERT) cfg[key] = id;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  ZIP_CHECK(is_directory(dir), "HF export: cannot create the directory '{}'", dir);
  write_safetensors(dir + "/model.safetensors", tensors, {{"format", "pt"}});
  write_file_atomic(dir + "/config.json", cfg.dump(2) + "\n");
  if (m.tokenizer) write_hf_tokenizer(dir, *m.tokenizer, r.notes);
  else r.notes.push_back("the model has no tokenizer: none was written");
  if (m.config.arch == Arch::BERT && !m.config.pooling.empty()) write_sentence_transformers(dir, m.config);
  return r;
}

}  // namespace zip

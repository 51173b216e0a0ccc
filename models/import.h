// Importers behind `zip convert`: foreign checkpoints become a Model with canonical tensor names
// and layouts (see engine/model.h), a tokenizer when one is found, and provenance metadata.
//
// Weight dtype: every weight is f32 after import unless --dtype is given (norms stay f32 in any
// case, see Model::convert_weights). Sources in bf16/f16 are converted exactly (widening). GGUF
// tensors of a block type the engine has (Q8_0, Q4_0, Q5_0, Q4_K, Q6_K) are kept as they are unless
// --dtype is given; other GGUF block types are dequantised to f32. A --dtype naming a block mix
// (engine/quant/quant_mix.h) imports in f32, then quantises to the mix.
#pragma once
#include <memory>
#include <optional>
#include <string>

#include "engine/dtype.h"
#include "engine/model.h"
#include "engine/quant/quant_mix.h"

namespace zip {

struct ImportOptions {
  std::string tokenizer_path;  // --tokenizer FILE_OR_DIR; empty = look beside the checkpoint
  DType dtype = DType::F32;    // target weight dtype
  bool dtype_given = false;    // --dtype was passed (otherwise f32)
  // The tokenizer of tokenizer_path, read by import_model before the weights (the importers use it).
  std::shared_ptr<const TokenizerData> tokenizer;
  std::optional<quant::QuantMix> quant_mix;  // --dtype named a block mix (then dtype_given, dtype f32)
  int threads = 1;                           // for quantising to quant_mix
};

// Dispatch on the source: a directory with modules.json is a sentence-transformers folder; a
// directory with config.json (or that config.json itself) is a Hugging Face checkpoint, whose
// `architectures` / `model_type` pick the importer (Llama, GPT-2, BERT; anything else is
// "unsupported architecture 'X'"); a file starting with "GGUF" is a llama.cpp GGUF model; another
// regular file is read as a llama2.c checkpoint, whose header must be plausible and whose size
// must match it exactly. The result is validated.
Model import_model(const std::string& src, const ImportOptions& opt);

// opt.tokenizer, else the tokenizer of opt.tokenizer_path (for importers called directly).
std::shared_ptr<const TokenizerData> given_tokenizer(const ImportOptions& opt);

// The individual importers (import_model adds the dtype conversion and validation).
// llama2.c legacy v0 checkpoint (karpathy/llama2.c export.py `legacy_export`).
Model import_llama2c(const std::string& path, const ImportOptions& opt);
// GGUF (llama.cpp) file of a Llama-family model; block tensors kept or dequantised (see above).
Model import_gguf(const std::string& path, const ImportOptions& opt);
// Hugging Face directories: config.json + model.safetensors (or shards).
Model import_hf_llama(const std::string& dir, const ImportOptions& opt);  // LlamaForCausalLM
Model import_hf_gpt2(const std::string& dir, const ImportOptions& opt);   // GPT2LMHeadModel, GPT2Model
Model import_hf_bert(const std::string& dir, const ImportOptions& opt);   // BertModel, BertForSequenceClassification
// A directory with config.json: the importer its architecture names.
Model import_hf(const std::string& dir, const ImportOptions& opt);
// sentence-transformers folder (modules.json: Transformer holding a BertModel, Pooling mean/cls,
// Normalize): the BERT import plus config.pooling and config.normalize.
Model import_sentence_transformers(const std::string& dir, const ImportOptions& opt);

// Hugging Face applies RoPE with rotate_half (pairs (i, i + hd/2) of each head); the engine
// rotates adjacent pairs (2i, 2i+1). For a q_proj/k_proj weight of `n_heads` heads of `head_dim`
// rows each, returns the row permutation that makes the two agree: within every head,
// new row 2i = old row i, new row 2i+1 = old row i + hd/2. Any dtype; the result owns its data.
Tensor hf_rope_rows_to_adjacent(const Tensor& w, int n_heads, int head_dim);

}  // namespace zip

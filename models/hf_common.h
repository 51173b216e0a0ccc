// Pieces every Hugging Face importer shares: strict config.json reading (typed getters, the
// architecture check, keys that change the math unless neutral, warnings for unknown keys),
// a tensor source that checks names and shapes and reports leftovers, layout helpers (Conv1D
// transposes, row slices) and the tokenizer lookup beside a checkpoint.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/tensor.h"
#include "engine/tokenizer/tokenizer.h"
#include "models/import.h"

namespace zip::hf {

using json = nlohmann::json;

// A JSON file parsed, or a clear error (missing file, invalid JSON, not an object).
json read_json_object(const std::string& path);

// The model class a config.json names, and its family. `architectures` (one class) and
// `model_type` must agree when both are given; either alone decides. An unknown class or
// model type is "unsupported architecture 'X' (supported: ...)".
struct HfClass {
  Arch family;
  std::string name;  // "LlamaForCausalLM", "GPT2LMHeadModel", "BertModel", ...
};
HfClass detect_class(const json& cfg, const std::string& path);

// Typed getters: required (missing = error) or with a default for absent/null keys.
int get_int(const json& cfg, const char* key, int lo, int hi, const std::string& path);
int get_int_or(const json& cfg, const char* key, int dflt, int lo, int hi, const std::string& path);
double get_positive(const json& cfg, const char* key, double dflt, const std::string& path);
bool get_bool(const json& cfg, const char* key, bool dflt, const std::string& path);
std::string get_string(const json& cfg, const char* key, const std::string& dflt, const std::string& path);

// Keys every PretrainedConfig may carry that do not affect inference (bookkeeping, generation
// defaults, dropout is for training, ...). Families add their own.
const std::set<std::string>& common_harmless_keys();

// Throws "'<key>' = <value> is not supported by this engine" for each of `keys` present with a
// value that changes the computation (see is_neutral in hf_common.cpp for each key's neutral value).
void require_neutral(const json& cfg, const std::string& path, std::initializer_list<const char*> keys);

// Prints one warning listing the keys that are neither in common_harmless_keys() nor `known`.
void warn_unknown_keys(const json& cfg, const std::set<std::string>& known, const std::string& path,
                       const std::string& cls);

// The tensors of a checkpoint directory, handed out by name with shape checks; what is left
// unused at the end must be a known buffer, else it is an error (nothing is silently dropped).
class TensorSource {
 public:
  using NameFilter = std::function<bool(const std::string&)>;
  // `is_buffer`: non-weight buffers some checkpoints carry (masks, position ids), skipped.
  TensorSource(std::string dir, NameFilter is_buffer);
  bool has(const std::string& name) const { return src_.count(name) != 0; }
  // The tensor `name` (a view, any float dtype) after checking its shape.
  Tensor take(const std::string& name, const std::vector<int64_t>& shape);
  // Like take, but a mismatch in the first dimension is reported as a vocabulary disagreement.
  Tensor take_embedding(const std::string& name, int64_t vocab, int64_t dim);
  // Errors on the first tensor neither taken nor a buffer; `what` names the expected model.
  void check_all_used(const std::string& what) const;
  // A name prefix ("transformer.", "bert.", ...) when `probe` exists with it, else "".
  std::string detect_prefix(const std::string& prefix, const std::string& probe) const;
  std::string dtype_summary() const;  // "f32", "bf16+f32", ...
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  NameFilter is_buffer_;
  std::map<std::string, Tensor> src_;
  std::set<std::string> used_;
};

// Transpose of a 2-D tensor (any dtype), owning its data: Conv1D [in, out] -> [out, in].
Tensor transpose_2d(const Tensor& t);
// Rows [begin, begin + n) of a tensor (elements for 1-D), sharing its storage.
Tensor slice_rows(const Tensor& t, int64_t begin, int64_t n);

// Tokenizer for a checkpoint: --tokenizer when given, else the Hugging Face tokenizer files in
// `dir` (tokenizer.json, vocab.json + merges.txt, vocab.txt, tokenizer.model) when any exists,
// else none. A tokenizer with more pieces than `vocab_size` is an error.
std::shared_ptr<const TokenizerData> find_tokenizer(const std::string& dir, const ImportOptions& opt,
                                                     int vocab_size);

// Provenance shared by the HF importers.
json provenance(const std::string& dir, const json& cfg, const std::string& format, const std::string& importer,
                const TensorSource& src);

}  // namespace zip::hf

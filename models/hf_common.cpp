#include "models/hf_common.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "engine/error.h"
#include "engine/file_io.h"
#include "models/safetensors.h"

namespace zip::hf {

json read_json_object(const std::string& path) {
  require_regular_file(path);
  json j = json::parse(read_file(path), nullptr, /*allow_exceptions=*/false);
  ZIP_CHECK(!j.is_discarded(), "{}: invalid JSON", path);
  ZIP_CHECK(j.is_object(), "{}: expected a JSON object", path);
  return j;
}

namespace {

struct KnownClass {
  const char* name;
  Arch family;
  const char* model_type;
  bool default_for_type;  // the class a bare model_type stands for
};
const KnownClass kClasses[] = {
    {"LlamaForCausalLM", Arch::Llama, "llama", true},
    {"GPT2LMHeadModel", Arch::GPT2, "gpt2", true},
    {"GPT2Model", Arch::GPT2, "gpt2", false},
    {"BertModel", Arch::BERT, "bert", true},
    {"BertForSequenceClassification", Arch::BERT, "bert", false},
};

std::string supported_classes() {
  std::string s;
  for (const auto& k : kClasses) s += (s.empty() ? "" : ", ") + std::string(k.name);
  return s;
}

}  // namespace

HfClass detect_class(const json& cfg, const std::string& path) {
  const KnownClass* cls = nullptr;
  if (cfg.contains("architectures") && !cfg["architectures"].is_null()) {
    const json& a = cfg["architectures"];
    ZIP_CHECK(a.is_array() && a.size() == 1 && a[0].is_string(), "{}: 'architectures' must list one class, got {}",
              path, a.dump());
    std::string name = a[0].get<std::string>();
    for (const auto& k : kClasses)
      if (name == k.name) cls = &k;
    ZIP_CHECK(cls, "{}: unsupported architecture '{}' (supported: {})", path, name, supported_classes());
  }
  if (cfg.contains("model_type") && !cfg["model_type"].is_null()) {
    const json& t = cfg["model_type"];
    std::string type = t.is_string() ? t.get<std::string>() : t.dump();
    if (cls) {
      ZIP_CHECK(type == cls->model_type, "{}: unsupported architecture: model_type '{}' does not match '{}'", path,
                type, cls->name);
    } else {
      for (const auto& k : kClasses)
        if (k.default_for_type && type == k.model_type) cls = &k;
      ZIP_CHECK(cls, "{}: unsupported architecture '{}' (model_type; supported: llama, gpt2, bert)", path, type);
    }
  }
  ZIP_CHECK(cls, "{}: unsupported architecture: neither 'architectures' nor 'model_type' is given", path);
  return {cls->family, cls->name};
}

int get_int(const json& cfg, const char* key, int lo, int hi, const std::string& path) {
  ZIP_CHECK(cfg.contains(key) && !cfg[key].is_null(), "{}: missing '{}'", path, key);
  const json& v = cfg[key];
  ZIP_CHECK(v.is_number_integer(), "{}: '{}' must be an integer, got {}", path, key, v.dump());
  // Unsigned values above INT64_MAX read back negative: still out of range.
  int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX) ? -1 : v.get<int64_t>();
  ZIP_CHECK(x >= lo && x <= hi, "{}: '{}' = {} out of range {}..{}", path, key, v.dump(), lo, hi);
  return int(x);
}

int get_int_or(const json& cfg, const char* key, int dflt, int lo, int hi, const std::string& path) {
  if (!cfg.contains(key) || cfg[key].is_null()) return dflt;
  return get_int(cfg, key, lo, hi, path);
}

double get_positive(const json& cfg, const char* key, double dflt, const std::string& path) {
  if (!cfg.contains(key) || cfg[key].is_null()) return dflt;
  ZIP_CHECK(cfg[key].is_number(), "{}: '{}' must be a number, got {}", path, key, cfg[key].dump());
  double x = cfg[key].get<double>();
  ZIP_CHECK(std::isfinite(x) && x > 0, "{}: '{}' must be positive, got {}", path, key, x);
  return x;
}

bool get_bool(const json& cfg, const char* key, bool dflt, const std::string& path) {
  if (!cfg.contains(key) || cfg[key].is_null()) return dflt;
  ZIP_CHECK(cfg[key].is_boolean(), "{}: '{}' must be a boolean, got {}", path, key, cfg[key].dump());
  return cfg[key].get<bool>();
}

std::string get_string(const json& cfg, const char* key, const std::string& dflt, const std::string& path) {
  if (!cfg.contains(key) || cfg[key].is_null()) return dflt;
  ZIP_CHECK(cfg[key].is_string(), "{}: '{}' must be a string, got {}", path, key, cfg[key].dump());
  return cfg[key].get<std::string>();
}

const std::set<std::string>& common_harmless_keys() {
  static const std::set<std::string> keys = {
      "_name_or_path", "architectures", "model_type", "transformers_version", "torch_dtype", "dtype", "use_cache",
      "initializer_range", "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id",
      "use_bfloat16", "return_dict", "output_hidden_states", "output_attentions", "torchscript", "tf_legacy_loss",
      // Feed-forward chunking computes the same values slice by slice.
      "chunk_size_feed_forward", "tie_encoder_decoder", "max_length", "min_length", "do_sample", "early_stopping",
      "num_beams", "num_beam_groups", "diversity_penalty", "temperature", "top_k", "top_p", "typical_p",
      "repetition_penalty", "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size",
      "bad_words_ids", "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
      "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens",
      "begin_suppress_tokens", "finetuning_task", "id2label", "label2id", "tokenizer_class", "prefix",
      "task_specific_params", "problem_type", "cross_attention_hidden_size", "gradient_checkpointing",
      // Generic keys whose neutrality each family checks with require_neutral.
      "add_cross_attention", "is_encoder_decoder", "is_decoder", "pruned_heads", "quantization_config", "auto_map"};
  return keys;
}

namespace {

bool is_neutral(const std::string& key, const json& v) {
  // HF tests these two by value: null would disable the scaling / the position table.
  if (key == "scale_attn_weights") return v.is_boolean() && v.get<bool>();
  if (key == "position_embedding_type") return v == "absolute";
  if (v.is_null()) return true;
  if (key == "rope_scaling") {
    // {"rope_type": "default"} is plain RoPE; anything else (linear, dynamic, yarn, llama3, ...) is not.
    if (!v.is_object()) return false;
    for (const auto& [k, x] : v.items())
      if (!((k == "rope_type" || k == "type") && x == "default")) return false;
    return true;
  }
  if (key == "attention_bias" || key == "mlp_bias" || key == "use_sliding_window" || key == "is_encoder_decoder" ||
      key == "is_decoder" || key == "add_cross_attention" || key == "scale_attn_by_inverse_layer_idx")
    return v.is_boolean() && !v.get<bool>();
  if (key == "sliding_window" || key == "quantization_config") return false;  // non-null = on
  if (key == "partial_rotary_factor") return v.is_number() && v.get<double>() == 1.0;
  if (key == "pruned_heads") return v.is_object() && v.empty();
  if (key == "auto_map") return false;  // custom modeling code: its math is unknown
  fail("internal: no neutral value known for config key '{}'", key);
}

}  // namespace

void require_neutral(const json& cfg, const std::string& path, std::initializer_list<const char*> keys) {
  for (const char* key : keys)
    if (cfg.contains(key))
      ZIP_CHECK(is_neutral(key, cfg[key]), "{}: '{}' = {} is not supported by this engine", path, key,
                cfg[key].dump());
}

void warn_unknown_keys(const json& cfg, const std::set<std::string>& known, const std::string& path,
                       const std::string& cls) {
  std::string list;
  for (const auto& [k, v] : cfg.items())
    if (!known.count(k) && !common_harmless_keys().count(k)) list += (list.empty() ? "" : ", ") + k;
  if (!list.empty())
    std::fprintf(stderr, "warning: %s: ignoring keys Hugging Face's %s does not read: %s\n", path.c_str(),
                 cls.c_str(), list.c_str());
}

TensorSource::TensorSource(std::string dir, NameFilter is_buffer)
    : dir_(std::move(dir)), is_buffer_(std::move(is_buffer)), src_(load_safetensors_dir(dir_, is_buffer_)) {}

Tensor TensorSource::take(const std::string& name, const std::vector<int64_t>& shape) {
  auto it = src_.find(name);
  ZIP_CHECK(it != src_.end(), "{}: missing tensor '{}'", dir_, name);
  ZIP_CHECK(it->second.shape == shape, "{}: tensor '{}' has shape {}, config.json implies {}", dir_, name,
            it->second.shape_str(), shape_to_string(shape));
  used_.insert(name);
  return it->second;
}

Tensor TensorSource::take_embedding(const std::string& name, int64_t vocab, int64_t dim) {
  auto it = src_.find(name);
  if (it != src_.end() && it->second.ndim() == 2 && it->second.dim(1) == dim)
    ZIP_CHECK(it->second.dim(0) == vocab, "{}: vocab_size {} in config.json differs from the {} rows of '{}'", dir_,
              vocab, it->second.dim(0), name);
  return take(name, {vocab, dim});
}

void TensorSource::check_all_used(const std::string& what) const {
  for (const auto& [name, t] : src_)
    ZIP_CHECK(used_.count(name) || is_buffer_(name), "{}: unexpected tensor '{}' {} (not part of {})", dir_, name,
              t.shape_str(), what);
}

std::string TensorSource::detect_prefix(const std::string& prefix, const std::string& probe) const {
  return has(prefix + probe) ? prefix : "";
}

std::string TensorSource::dtype_summary() const {
  std::set<std::string> names;
  for (const auto& [n, t] : src_) names.insert(dtype_name(t.dtype));
  std::string s;
  for (auto& n : names) s += (s.empty() ? "" : "+") + n;
  return s;
}

namespace {
template <typename T>
void transpose_as(const void* src, void* dst, int64_t rows, int64_t cols) {
  const T* s = static_cast<const T*>(src);
  T* d = static_cast<T*>(dst);
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) d[j * rows + i] = s[i * cols + j];
}
}  // namespace

Tensor transpose_2d(const Tensor& t) {
  ZIP_CHECK(t.ndim() == 2, "transpose: tensor of shape {} is not 2-D", t.shape_str());
  Tensor out = Tensor::zeros(t.dtype, {t.dim(1), t.dim(0)});
  switch (dtype_size(t.dtype)) {
    case 4: transpose_as<uint32_t>(t.data, out.data, t.dim(0), t.dim(1)); break;
    case 2: transpose_as<uint16_t>(t.data, out.data, t.dim(0), t.dim(1)); break;
    case 1: transpose_as<uint8_t>(t.data, out.data, t.dim(0), t.dim(1)); break;
    default: fail("transpose: unsupported dtype {}", dtype_name(t.dtype));
  }
  return out;
}

Tensor slice_rows(const Tensor& t, int64_t begin, int64_t n) {
  ZIP_CHECK(t.ndim() >= 1 && begin >= 0 && n >= 0 && begin + n <= t.dim(0), "slice: rows [{}, {}) of shape {}",
            begin, begin + n, t.shape_str());
  std::vector<int64_t> shape = t.shape;
  shape[0] = n;
  const size_t row = size_t(shape_numel(t.shape) / std::max<int64_t>(t.dim(0), 1)) * dtype_size(t.dtype);
  return Tensor::view(t.dtype, std::move(shape), static_cast<const uint8_t*>(t.data) + size_t(begin) * row,
                      t.holder);
}

std::shared_ptr<const TokenizerData> find_tokenizer(const std::string& dir, const ImportOptions& opt,
                                                     int vocab_size) {
  std::string from;
  if (!opt.tokenizer_path.empty()) {
    from = opt.tokenizer_path;
  } else {
    for (const char* f : {"tokenizer.json", "vocab.json", "vocab.txt", "tokenizer.model"})
      if (file_exists(dir + "/" + f)) from = dir;
  }
  if (from.empty()) return nullptr;
  std::shared_ptr<const TokenizerData> tok = opt.tokenizer;  // --tokenizer, read by import_model
  if (!tok) {
    try {
      tok = std::make_shared<const TokenizerData>(load_tokenizer(from));
    } catch (const Error& e) {
      fail("{}: cannot load the tokenizer ({}); pass --tokenizer FILE to choose one", from, e.what());
    }
  }
  ZIP_CHECK(int64_t(tok->pieces.size()) <= vocab_size, "{}: tokenizer has {} pieces, more than vocab_size {}", from,
            tok->pieces.size(), vocab_size);
  return tok;
}

json provenance(const std::string& dir, const json& cfg, const std::string& format, const std::string& importer,
                const TensorSource& src) {
  json p = {{"source", dir}, {"source_format", format}, {"source_dtype", src.dtype_summary()}, {"importer", importer}};
  if (cfg.contains("_name_or_path") && cfg["_name_or_path"].is_string()) p["source_name"] = cfg["_name_or_path"];
  return p;
}

}  // namespace zip::hf

// BERT ↔ GGUF; see gguf_bert.h.
#include "models/gguf_bert.h"

#include <set>

#include "engine/error.h"
#include "models/gguf_dequant.h"
#include "models/gguf_meta.h"

namespace zip {

namespace {

// Engine name → llama.cpp name (without .weight/.bias).
std::string bert_gguf_base(const std::string& name) {
  static const std::pair<const char*, const char*> kGlobal[] = {
      {"tok_embd", "token_embd"}, {"type_embd", "token_types"}, {"pos_embd", "position_embd"},
      {"embd_norm", "token_embd_norm"}, {"pooler", "cls"}, {"classifier", "cls.output"}};
  for (const auto& [ours, theirs] : kGlobal)
    if (name == ours) return theirs;
  for (const auto& [ours, theirs] : {std::pair{".attn_out_norm", ".attn_output_norm"},
                                     std::pair{".ffn_out_norm", ".layer_output_norm"}})
    if (name.ends_with(ours)) return name.substr(0, name.size() - std::string(ours).size()) + theirs;
  return name;
}

std::string bert_gguf_name(const std::string& name) {
  if (name.ends_with(".bias")) return bert_gguf_base(name.substr(0, name.size() - 5)) + ".bias";
  return bert_gguf_base(name) + ".weight";
}

int pooling_type(const std::string& p) { return p == "mean" ? 1 : p == "cls" ? 2 : 0; }

std::shared_ptr<const TokenizerData> read_wordpiece(const gguf::Meta& m, const gguf::File& f) {
  const gguf::Value* tokens = f.find("tokenizer.ggml.tokens");
  const gguf::Value* types = f.find("tokenizer.ggml.token_type");
  ZIP_CHECK(tokens && tokens->type == gguf::ValueType::Array && tokens->elem == gguf::ValueType::String,
            "{}: missing tokenizer.ggml.tokens", f.path);
  ZIP_CHECK(!types || (types->is_array_of_ints() && types->count == tokens->count),
            "{}: tokenizer.ggml.token_type must have one entry per token", f.path);
  auto t = std::make_shared<TokenizerData>();
  t->type = "wordpiece";
  t->add_bos = t->add_dummy_prefix = t->byte_fallback = false;
  // llama.cpp's WordPiece always normalises as BERT's uncased tokenizer.
  t->clean_text = t->handle_chinese_chars = t->strip_accents = t->lowercase = true;
  const std::string_view mark = "\xE2\x96\x81";
  for (uint64_t i = 0; i < tokens->count; i++) {
    const std::string_view s = tokens->strs[i];
    const int64_t ty = types ? types->int_at(i) : int64_t(kNormal);
    ZIP_CHECK(ty >= 0 && ty <= kByte, "{}: token {} has unknown type {}", f.path, i, ty);
    const bool bracketed = s.size() >= 2 && s.front() == '[' && s.back() == ']';
    std::string piece = s.starts_with(mark) ? std::string(s.substr(mark.size()))
                        : bracketed || ty != kNormal ? std::string(s)
                                                    : "##" + std::string(s);
    t->pieces.push_back(std::move(piece));
    t->types.push_back(ty == 0 ? kNormal : int32_t(ty));
    t->scores.push_back(0.0f);
  }
  const int64_t n = int64_t(tokens->count);
  auto id = [&](const char* key, int64_t dflt) {
    const int64_t v = m.get_int_or(std::string("tokenizer.ggml.") + key, dflt, -1, n - 1);
    return int(v);
  };
  t->cls = id("cls_token_id", id("bos_token_id", -1));
  t->sep = id("seperator_token_id", id("eos_token_id", -1));
  t->unk = id("unknown_token_id", -1);
  t->pad = id("padding_token_id", -1);
  t->mask = id("mask_token_id", -1);
  t->chat_template = m.get_str_or("tokenizer.chat_template", "");
  return t;
}

Tensor load(const gguf::File& f, const std::string& name, const std::vector<int64_t>& shape,
            const ImportOptions& opt) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  ZIP_CHECK(t, "{}: missing tensor '{}'", f.path, name);
  ZIP_CHECK(t->shape() == shape, "{}: tensor '{}' has shape {}, the metadata implies {}", f.path, name,
            shape_to_string(t->shape()), shape_to_string(shape));
  ZIP_CHECK(gguf::can_dequantize(t->type), "{}: tensor '{}' has ggml type {}, which cannot be dequantised", f.path,
            name, gguf::ggml_type_name(t->type));
  Tensor out = Tensor::zeros(DType::F32, shape);
  gguf::dequantize(t->type, t->data, out.ptr<float>(), t->n_elems);
  if (opt.dtype_given && shape.size() == 2 && opt.dtype != DType::F32) out = out.converted(opt.dtype);
  return out;
}

}  // namespace

ExportResult export_gguf_bert(const Model& m, gguf::Writer& w) {
  const ModelConfig& c = m.config;
  const LayerShape& s0 = c.layers.at(0);
  bool uniform = s0.has_attention() && s0.has_ffn() && int64_t(s0.n_heads()) * c.head_dim == c.dim;
  for (const LayerShape& s : c.layers) uniform = uniform && s == s0;
  for (int g : s0.q_per_kv) uniform = uniform && g == 1;
  ZIP_CHECK(uniform,
            "GGUF export: llama.cpp's bert needs every layer whole (all heads, head_dim × heads = hidden size, an "
            "FFN); this model is pruned per layer");
  const std::string a = "bert";
  ExportResult r;
  r.arch = a;
  w.set_str("general.architecture", a);
  w.set_u32(a + ".vocab_size", uint32_t(c.vocab_size));
  w.set_u32(a + ".context_length", uint32_t(c.max_seq_len));
  w.set_u32(a + ".embedding_length", uint32_t(c.dim));
  w.set_u32(a + ".feed_forward_length", uint32_t(s0.ffn_dim));
  w.set_u32(a + ".block_count", uint32_t(c.n_layers()));
  w.set_u32(a + ".attention.head_count", uint32_t(s0.n_heads()));
  w.set_f32(a + ".attention.layer_norm_epsilon", c.norm_eps);
  w.set_bool(a + ".attention.causal", false);
  w.set_u32(a + ".pooling_type", uint32_t(pooling_type(c.pooling)));
  if (!c.labels.empty()) w.set_str_array(a + ".classifier.output_labels", c.labels);
  if (c.normalize) w.set_bool("zip.normalize", true);
  w.set_u32("tokenizer.ggml.token_type_count", uint32_t(c.n_token_types));
  for (const TensorSpec& s : expected_tensors(c)) w.add_tensor(bert_gguf_name(s.name), m.get(s.name));
  if (c.normalize) r.notes.push_back("L2-normalised embeddings: pass --embd-normalize 2 to llama.cpp");
  if (m.tokenizer && !(m.tokenizer->lowercase && m.tokenizer->strip_accents))
    r.notes.push_back("llama.cpp's WordPiece lower-cases and strips accents; this tokenizer does not");
  return r;
}

Model import_gguf_bert(const gguf::File& f, const ImportOptions& opt) {
  const gguf::Meta meta(f);
  const std::string a = "bert";
  ZIP_CHECK(!meta.get_bool_or(a + ".attention.causal", false), "{}: a causal bert is not supported", f.path);
  Model m;
  ModelConfig& c = m.config;
  c.arch = Arch::BERT;
  c.dim = int(meta.get_int(a + ".embedding_length", 1, 1 << 16));
  const int L = int(meta.get_int(a + ".block_count", 1, 4096));
  c.max_seq_len = int(meta.get_int(a + ".context_length", 1, 1 << 22));
  const int heads = int(meta.get_int(a + ".attention.head_count", 1, 4096));
  ZIP_CHECK(c.dim % heads == 0, "{}: embedding_length {} is not a multiple of head_count {}", f.path, c.dim, heads);
  c.head_dim = c.dim / heads;
  c.layers.assign(size_t(L), uniform_layer(heads, heads, int(meta.get_int(a + ".feed_forward_length", 1, 1 << 20))));
  c.norm_eps = float(meta.get_float_or(a + ".attention.layer_norm_epsilon", 0.0));
  ZIP_CHECK(c.norm_eps > 0, "{}: '{}.attention.layer_norm_epsilon' must be given and positive", f.path, a);
  c.n_token_types = int(meta.get_int("tokenizer.ggml.token_type_count", 1, 1024));
  const int64_t pooling = meta.get_int_or(a + ".pooling_type", 0, 0, 2);
  c.pooling = pooling == 1 ? "mean" : pooling == 2 ? "cls" : "";
  c.normalize = meta.get_bool_or("zip.normalize", false);
  c.pooler = f.find_tensor("cls.weight") != nullptr;
  if (const gguf::Value* labels = f.find(a + ".classifier.output_labels"))
    for (std::string_view s : labels->strs) c.labels.emplace_back(s);
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  ZIP_CHECK(embd && embd->ne.size() == 2, "{}: missing tensor 'token_embd.weight'", f.path);
  c.vocab_size = int(meta.get_int_or(a + ".vocab_size", int64_t(embd->ne[1]), 1, 1 << 22));
  validate_config(c);

  std::set<std::string> used;
  for (const TensorSpec& s : expected_tensors(c)) {
    m.tensors[s.name] = load(f, bert_gguf_name(s.name), s.shape, opt);
    used.insert(bert_gguf_name(s.name));
  }
  for (const gguf::TensorInfo& t : f.tensors)
    ZIP_CHECK(used.count(t.name), "{}: unexpected tensor '{}' for a BERT model with this metadata", f.path, t.name);
  if (f.find("tokenizer.ggml.tokens")) m.tokenizer = read_wordpiece(meta, f);
  return m;
}

}  // namespace zip

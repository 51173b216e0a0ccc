// GGUF import for Llama-family models (general.architecture "llama"; SmolLM2 and TinyLlama are
// "llama" too). llama.cpp's canonical tensor names are the engine's (plus ".weight"), its weights
// are [out, in] (ggml lists ne = [in, out], fastest first) and its converter already permuted q/k
// rows to adjacent RoPE pairs, so tensors need no permutation: block tensors are kept whole. Metadata is read strictly:
// a setting that would make llama.cpp compute something the engine does not (scaled RoPE, partial
// rotary, experts, ALiBi, biases, ...) is an error naming it, never ignored.
#include <cstdio>
#include <cstring>
#include <optional>
#include <set>
#include <unordered_map>

#include <cstring>

#include "engine/error.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/pretokenize.h"
#include "engine/tokenizer/unicode.h"
#include "models/gguf.h"
#include "models/gguf_bert.h"
#include "models/gguf_dequant.h"
#include "models/gguf_meta.h"
#include "models/gguf_unpad.h"
#include "models/import.h"

namespace zip {

using gguf::Meta;

namespace {

// Settings of llama.cpp's Llama graph the engine does not implement, unless at their neutral value.
void check_unsupported(const Meta& m, const std::string& a, int head_dim) {
  const std::string& p = m.path();
  const std::string scaling = m.get_str_or(a + ".rope.scaling.type", "none");
  const double factor = m.get_float_or(a + ".rope.scaling.factor", 1.0);
  ZIP_CHECK(scaling == "none" || (scaling == "linear" && (factor == 1.0 || factor == 0.0)),
            "{}: RoPE scaling '{}' (factor {}) is not supported by this engine", p, scaling, factor);
  ZIP_CHECK(m.get_float_or(a + ".rope.scale_linear", 1.0) == 1.0, "{}: '{}.rope.scale_linear' = {} is not supported", p,
            a, m.get_float_or(a + ".rope.scale_linear", 1.0));
  const int64_t rot = m.get_int_or(a + ".rope.dimension_count", head_dim, 0, 1 << 20);
  ZIP_CHECK(rot == head_dim,
            "{}: partial rotary embeddings ('{}.rope.dimension_count' = {}, head_dim {}) are not supported", p, a, rot,
            head_dim);
  const int64_t vlen = m.get_int_or(a + ".attention.value_length", head_dim, 0, 1 << 20);
  ZIP_CHECK(vlen == head_dim, "{}: '{}.attention.value_length' = {} differs from key_length {}: not supported", p, a,
            vlen, head_dim);
  ZIP_CHECK(m.get_int_or(a + ".expert_count", 0, 0, 1 << 20) == 0,
            "{}: mixture-of-experts models ('{}.expert_count') are not supported", p, a);
  for (const char* key : {".attention.clamp_kqv", ".attention.max_alibi_bias", ".attention.sliding_window",
                          ".logit_scale", ".attention.scale", ".embedding_scale", ".residual_scale"}) {
    const double x = m.get_float_or(a + key, 0.0);
    // logit/embedding/residual/attention scales of 1 (or 0 = unset) are neutral.
    const bool scale = std::string(key).ends_with("scale");
    ZIP_CHECK(x == 0.0 || (scale && x == 1.0), "{}: '{}{}' = {} is not supported by this engine", p, a, key, x);
  }
}

ModelConfig parse_config(const Meta& m, const std::string& a) {
  const std::string& p = m.path();
  ModelConfig c;
  c.arch = Arch::Llama;
  c.dim = int(m.get_int(a + ".embedding_length", 1, 1 << 16));
  const size_t L = size_t(m.get_int(a + ".block_count", 1, 4096));
  c.max_seq_len = int(m.get_int(a + ".context_length", 1, 1 << 22));
  const std::vector<int64_t> heads = m.per_layer(a + ".attention.head_count", L, 0, 4096);
  // Without head_count_kv every query head has its own KV head (as llama.cpp).
  const std::vector<int64_t> kv_or_heads =
      m.has(a + ".attention.head_count_kv") ? m.per_layer(a + ".attention.head_count_kv", L, 0, 4096) : heads;
  const std::vector<int64_t> ffn = m.per_layer(a + ".feed_forward_length", L, 0, 1 << 20);

  // head_dim: key_length, else dim / heads (the same in every layer that has attention).
  int64_t h0 = 0;
  for (int64_t h : heads) {
    if (h == 0) continue;
    ZIP_CHECK(h0 == 0 || h == h0 || m.has(a + ".attention.key_length"),
              "{}: layers differ in head count; '{}.attention.key_length' is needed for head_dim", p, a);
    h0 = h;
  }
  if (m.has(a + ".attention.key_length")) {
    c.head_dim = int(m.get_int(a + ".attention.key_length", 1, 1024));
  } else {
    ZIP_CHECK(h0 > 0 && c.dim % h0 == 0, "{}: embedding_length {} is not a multiple of head_count {}", p, c.dim, h0);
    c.head_dim = int(c.dim / h0);
  }
  ZIP_CHECK(c.head_dim % 2 == 0, "{}: head_dim {} must be even for RoPE", p, c.head_dim);
  check_unsupported(m, a, c.head_dim);

  for (size_t l = 0; l < L; l++) {
    const int64_t h = heads[l], k = kv_or_heads[l];
    LayerShape s;
    if (h > 0) {
      ZIP_CHECK(k > 0 && h % k == 0, "{}: layer {}: head_count {} is not a multiple of head_count_kv {}", p, l, h, k);
      s = uniform_layer(int(h), int(k), int(ffn[l]));
    } else {
      ZIP_CHECK(k == 0, "{}: layer {} has no query heads but {} KV heads", p, l, k);
      s.ffn_dim = int(ffn[l]);
    }
    c.layers.push_back(s);
  }
  c.norm_eps = float(m.get_float_or(a + ".attention.layer_norm_rms_epsilon", 0.0));
  ZIP_CHECK(c.norm_eps > 0, "{}: '{}.attention.layer_norm_rms_epsilon' must be given and positive", p, a);
  c.rope_theta = float(m.get_float_or(a + ".rope.freq_base", 10000.0));
  return c;
}

// gpt2: LayerNorm with biases, learned positions, GELU (tanh) MLP, fused q/k/v (attn_qkv).
ModelConfig parse_config_gpt2(const Meta& m, const std::string& a) {
  const std::string& p = m.path();
  ModelConfig c;
  c.arch = Arch::GPT2;
  c.dim = int(m.get_int(a + ".embedding_length", 1, 1 << 16));
  const int L = int(m.get_int(a + ".block_count", 1, 4096));
  c.max_seq_len = int(m.get_int(a + ".context_length", 1, 1 << 22));
  const int heads = int(m.get_int(a + ".attention.head_count", 1, 4096));
  const int kv = int(m.get_int_or(a + ".attention.head_count_kv", heads, 1, 4096));
  ZIP_CHECK(kv == heads && c.dim % heads == 0, "{}: gpt2 needs head_count_kv = head_count dividing embedding_length",
            p);
  c.head_dim = c.dim / heads;
  const int ffn = int(m.get_int(a + ".feed_forward_length", 1, 1 << 20));
  c.norm_eps = float(m.get_float_or(a + ".attention.layer_norm_epsilon", 0.0));
  ZIP_CHECK(c.norm_eps > 0, "{}: '{}.attention.layer_norm_epsilon' must be given and positive", p, a);
  c.layers.assign(size_t(L), uniform_layer(heads, heads, ffn));
  return c;
}

// The GGUF name of an engine tensor: weights get ".weight", biases keep their name.
std::string gguf_tensor_name(const std::string& name) {
  if (name == "tok_embd") return "token_embd.weight";
  if (name == "pos_embd") return "position_embd.weight";
  return name.ends_with(".bias") ? name : name + ".weight";
}

// --- tokenizer -------------------------------------------------------------------------------

const gguf::Value* token_array(const Meta& m, const char* key, gguf::ValueType elem, uint64_t n, bool required) {
  const gguf::Value* v = m.find(key);
  if (!v) {
    ZIP_CHECK(!required, "{}: missing metadata '{}'", m.path(), key);
    return nullptr;
  }
  ZIP_CHECK(v->type == gguf::ValueType::Array && v->elem == elem && (n == 0 || v->count == n),
            "{}: '{}' must be an array of {} {}, got {}", m.path(), key, n, gguf::value_type_name(elem), v->describe());
  return v;
}

// tokenizer.ggml.pre → the engine's pre-tokenizer rule (llama.cpp's names).
std::string pre_rule(const std::string& pre, const std::string& path) {
  if (pre.empty() || pre == "default" || pre == "gpt-2") return "gpt2";
  if (pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3") return "llama3";
  if (pre == "smollm" || pre == "qwen2") return pre;
  fail("{}: unknown pre-tokenizer '{}' (tokenizer.ggml.pre; supported: default, gpt-2, llama-bpe, smollm, qwen2)", path,
       pre);
}

// tokenizer.chat_template, or "" with a warning when it is not valid UTF-8 (the .zlm header is JSON).
std::string chat_template(const Meta& m) {
  std::string t = m.get_str_or("tokenizer.chat_template", "");
  if (unicode::is_valid_utf8(t)) return t;
  std::fprintf(stderr, "warning: %s: tokenizer.chat_template is not valid UTF-8; importing without it\n",
               printable(m.path()).c_str());
  return {};
}

std::shared_ptr<const TokenizerData> read_tokenizer(const Meta& m) {
  const std::string& p = m.path();
  const std::string model = m.get_str_or("tokenizer.ggml.model", "");
  if (model.empty() || model == "none" || model == "no_vocab") {
    std::fprintf(stderr, "warning: %s has no tokenizer; importing without one (pass --tokenizer FILE)\n", p.c_str());
    return nullptr;
  }
  ZIP_CHECK(model == "llama" || model == "gpt2",
            "{}: tokenizer model '{}' is not supported (tokenizer.ggml.model: llama or gpt2)", p, model);
  const bool spm = model == "llama";
  const gguf::Value* tokens = token_array(m, "tokenizer.ggml.tokens", gguf::ValueType::String, 0, true);
  const uint64_t n = tokens->count;
  ZIP_CHECK(n > 0 && n <= (1 << 22), "{}: tokenizer.ggml.tokens has {} tokens", p, n);
  const gguf::Value* scores = token_array(m, "tokenizer.ggml.scores", gguf::ValueType::F32, n, false);
  const gguf::Value* types = token_array(m, "tokenizer.ggml.token_type", gguf::ValueType::I32, n, false);

  auto t = std::make_shared<TokenizerData>();
  t->type = spm ? "sentencepiece-bpe" : "byte-bpe";
  t->pieces.resize(n);
  t->scores.assign(n, 0.0f);
  t->types.assign(n, kNormal);
  for (uint64_t i = 0; i < n; i++) {
    if (types) {
      const int64_t ty = types->int_at(i);
      ZIP_CHECK(ty >= 0 && ty <= kByte, "{}: token {} has unknown type {}", p, i, ty);
      t->types[i] = ty == 0 ? kNormal : int32_t(ty);  // 0: llama.cpp's "undefined"
    }
    if (scores && spm) t->scores[i] = float(scores->float_at(i));
    const std::string_view tok = tokens->strs[i];
    std::string& piece = t->pieces[i];
    if (spm) {
      // SentencePiece's visible space U+2581 is stored as ' ' (as the other SentencePiece loaders).
      for (size_t k = 0; k < tok.size(); k++) {
        if (tok.compare(k, 3, "\xE2\x96\x81") == 0) {
          piece += ' ';
          k += 2;
        } else {
          piece += tok[k];
        }
      }
    } else {
      ZIP_CHECK(t->types[i] != kByte, "{}: token {} of a gpt2 vocabulary has the byte type", p, i);
      // Normal pieces are spelled in GPT-2's byte alphabet; added tokens (control, user-defined)
      // are plain text, as llama.cpp reads them.
      std::optional<std::string> bytes = t->types[i] == kNormal ? byte_level_to_bytes(tok) : std::nullopt;
      piece = bytes ? *bytes : std::string(tok);
    }
  }

  auto special = [&](const char* key, int dflt) {
    const int64_t id = m.get_int_or(std::string("tokenizer.ggml.") + key, dflt, -1, INT32_MAX);
    ZIP_CHECK(id < int64_t(n), "{}: tokenizer.ggml.{} = {} is outside the {}-token vocabulary", p, key, id, n);
    return int(id);
  };
  t->bos = special("bos_token_id", -1);
  t->eos = special("eos_token_id", -1);
  t->unk = special("unknown_token_id", -1);
  t->pad = special("padding_token_id", -1);
  // llama.cpp's defaults: SentencePiece adds BOS and a leading space; byte-level BPE neither.
  t->add_bos = m.get_bool_or("tokenizer.ggml.add_bos_token", spm) && t->bos >= 0;
  t->add_dummy_prefix = m.get_bool_or("tokenizer.ggml.add_space_prefix", spm);
  t->chat_template = chat_template(m);
  ZIP_CHECK(!m.get_bool_or("tokenizer.ggml.add_eos_token", false),
            "{}: tokenizer.ggml.add_eos_token = true is not supported (the engine never appends EOS)", p);
  ZIP_CHECK(!m.get_bool_or("tokenizer.ggml.remove_extra_whitespaces", false),
            "{}: tokenizer.ggml.remove_extra_whitespaces = true is not supported", p);
  if (const gguf::Value* cm = m.find("tokenizer.ggml.precompiled_charsmap"))
    ZIP_CHECK(cm->type == gguf::ValueType::Array && cm->count == 0,
              "{}: SentencePiece normalization rules (tokenizer.ggml.precompiled_charsmap) are not supported", p);

  if (spm) {
    t->byte_fallback = false;
    for (int32_t ty : t->types) t->byte_fallback = t->byte_fallback || ty == kByte;
    return t;
  }
  t->byte_fallback = false;
  const std::string pre = m.get_str_or("tokenizer.ggml.pre", "default");
  t->pre = pre_rule(pre, p);
  ZIP_CHECK(find_pretokenizer(t->pre), "{}: pre-tokenizer rule '{}' is not implemented", p, t->pre);
  t->ignore_merges = t->pre == "llama3";  // llama.cpp does so for llama-bpe (as Llama 3's tokenizer.json)

  // Merges "a b" in byte-level spelling, by rank; both halves and their concatenation are tokens.
  const gguf::Value* merges = token_array(m, "tokenizer.ggml.merges", gguf::ValueType::String, 0, true);
  std::unordered_map<std::string_view, int32_t> id_of;
  for (uint64_t i = 0; i < n; i++) id_of.emplace(tokens->strs[i], int32_t(i));
  auto lookup = [&](std::string_view s, uint64_t rank, std::string_view merge) {
    auto it = id_of.find(s);
    ZIP_CHECK(it != id_of.end(), "{}: merge {} ('{}') uses '{}', which is not a token", p, rank, merge, s);
    return it->second;
  };
  t->merges.reserve(merges->count);
  std::string joined;
  for (uint64_t r = 0; r < merges->count; r++) {
    const std::string_view s = merges->strs[r];
    const size_t sp = s.find(' ');
    ZIP_CHECK(sp != std::string_view::npos && sp > 0 && sp + 1 < s.size() && s.find(' ', sp + 1) == s.npos,
              "{}: merge {} is not two tokens 'a b'", p, r);
    const std::string_view a = s.substr(0, sp), b = s.substr(sp + 1);
    t->merges.emplace_back(lookup(a, r, s), lookup(b, r, s));
    joined.assign(a);
    joined += b;
    lookup(joined, r, s);
  }
  return t;
}

// --- tensors ---------------------------------------------------------------------------------

std::string type_summary(const gguf::File& f) {
  std::set<std::string> names;
  for (const auto& t : f.tensors) names.insert(gguf::ggml_type_name(t.type));
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : "+") + n;
  return s;
}

// The engine's block type for a ggml type it keeps as is; F32 (none) for the others.
DType kept_block_type(uint32_t ggml_type) {
  switch (ggml_type) {
    case 2: return DType::Q4_0;
    case 6: return DType::Q5_0;
    case 8: return DType::Q8_0;
    case 12: return DType::Q4_K;
    case 14: return DType::Q6_K;
    default: return DType::F32;
  }
}

Tensor load_tensor(const gguf::File& f, const gguf::TensorInfo& t, const std::vector<int64_t>& shape,
                   const ImportOptions& opt) {
  // Kept as they are (the layouts are GGUF's; the rows need no permutation: see the top).
  if (const DType kept = kept_block_type(t.type); kept != DType::F32 && !opt.dtype_given && shape.size() == 2) {
    Tensor out = Tensor::zeros(kept, shape);
    ZIP_CHECK(out.nbytes() == dtype_row_bytes(kept, int64_t(t.n_elems)), "{}: tensor '{}' size mismatch", f.path,
              t.name);
    std::memcpy(out.data, t.data, out.nbytes());
    return out;
  }
  ZIP_CHECK(gguf::can_dequantize(t.type),
            "{}: tensor '{}' has ggml type {}, which this engine cannot dequantise (supported: F32, F16, BF16, Q8_0, "
            "Q4_0, Q4_1, Q5_0, Q4_K, Q5_K, Q6_K)",
            f.path, t.name, gguf::ggml_type_name(t.type));
  Tensor out = Tensor::zeros(DType::F32, shape);
  gguf::dequantize(t.type, t.data, out.ptr<float>(), t.n_elems);
  // Converting tensor by tensor keeps the peak memory at one f32 copy of the largest tensor.
  if (opt.dtype_given && shape.size() == 2 && opt.dtype != DType::F32) out = out.converted(opt.dtype);
  return out;
}

// gpt2's q, k, v (weights and biases) are row blocks of the fused attn_qkv; false for other tensors.
bool load_gpt2_qkv_part(const gguf::File& f, const TensorSpec& s, const ImportOptions& opt, Model& m,
                        std::set<std::string>& used) {
  const size_t dot = s.name.find('.', 4);  // after "blk.N"
  const std::string what = s.name.substr(dot + 1);
  const bool bias = what.ends_with(".bias");
  const std::string base = bias ? what.substr(0, what.size() - 5) : what;
  const int part = base == "attn_q" ? 0 : base == "attn_k" ? 1 : base == "attn_v" ? 2 : -1;
  if (part < 0) return false;
  const std::string name = s.name.substr(0, dot) + ".attn_qkv" + (bias ? ".bias" : ".weight");
  const gguf::TensorInfo* t = f.find_tensor(name);
  ZIP_CHECK(t, "{}: missing tensor '{}'", f.path, name);
  std::vector<int64_t> fused = s.shape;
  fused[0] *= 3;
  ZIP_CHECK(t->shape() == fused, "{}: tensor '{}' has shape {}, the metadata implies {}", f.path, name,
            shape_to_string(t->shape()), shape_to_string(fused));
  const Tensor all = load_tensor(f, *t, fused, opt);
  const size_t bytes = all.nbytes() / 3;
  Tensor out = Tensor::zeros(all.dtype, s.shape);
  std::memcpy(out.data, static_cast<const uint8_t*>(all.data) + size_t(part) * bytes, bytes);
  m.tensors[s.name] = std::move(out);
  used.insert(name);
  return true;
}

}  // namespace

Model import_gguf(const std::string& path, const ImportOptions& opt) {
  const gguf::File f = gguf::read_file(path);
  const Meta meta(f);
  const std::string arch = meta.get_str_or("general.architecture", "");
  ZIP_CHECK(!arch.empty(), "{}: missing metadata 'general.architecture'", path);
  // deci: llama.cpp's Llama with per-layer head counts and FFN widths (Nemotron-NAS; zip export).
  ZIP_CHECK(arch == "llama" || arch == "deci" || arch == "gpt2" || arch == "bert",
            "{}: unsupported architecture '{}' (GGUF import supports: llama, deci, gpt2, bert)", path, arch);
  const bool gpt2 = arch == "gpt2";

  Model m;
  if (arch == "bert") {
    m = import_gguf_bert(f, opt);
    if (!opt.tokenizer_path.empty()) m.tokenizer = std::make_shared<const TokenizerData>(load_tokenizer(opt.tokenizer_path));
    m.provenance = {{"source", path}, {"source_format", fmt::format("gguf v{}", f.version)},
                    {"source_dtype", type_summary(f)}, {"importer", "gguf"}};
    return m;
  }
  m.config = gpt2 ? parse_config_gpt2(meta, arch) : parse_config(meta, arch);
  ModelConfig& c = m.config;

  // Vocabulary: <arch>.vocab_size, else the tokenizer's token count, else the embedding's rows.
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  ZIP_CHECK(embd, "{}: missing tensor 'token_embd.weight'", path);
  const gguf::Value* tokens = f.find("tokenizer.ggml.tokens");
  const int64_t embd_rows = embd->ne.size() == 2 ? int64_t(embd->ne[1]) : 0;
  const int64_t n_tokens = tokens && tokens->type == gguf::ValueType::Array ? int64_t(tokens->count) : embd_rows;
  c.vocab_size = int(meta.get_int_or(arch + ".vocab_size", n_tokens, 1, 1 << 22));
  ZIP_CHECK(embd_rows == c.vocab_size, "{}: token_embd.weight has shape {} but the vocabulary has {} tokens", path,
            shape_to_string(embd->shape()), c.vocab_size);
  c.tied_embeddings = f.find_tensor("output.weight") == nullptr;
  validate_config(c);

  std::set<std::string> used;
  for (const TensorSpec& s : expected_tensors(c)) {
    if (gpt2 && load_gpt2_qkv_part(f, s, opt, m, used)) continue;
    const std::string name = gguf_tensor_name(s.name);
    const gguf::TensorInfo* t = f.find_tensor(name);
    ZIP_CHECK(t, "{}: missing tensor '{}'", path, name);
    ZIP_CHECK(t->shape() == s.shape, "{}: tensor '{}' has shape {} (ggml ne {}), the metadata implies {}", path, name,
              shape_to_string(t->shape()), shape_to_string(std::vector<int64_t>(t->ne.begin(), t->ne.end())),
              shape_to_string(s.shape));
    m.tensors[s.name] = load_tensor(f, *t, s.shape, opt);
    used.insert(name);
  }
  for (const gguf::TensorInfo& t : f.tensors) {
    if (used.count(t.name)) continue;
    ZIP_CHECK(!t.name.ends_with(".bias"), "{}: tensor '{}': biases are not supported by the Llama engine", path,
              t.name);
    ZIP_CHECK(t.name != "rope_freqs.weight",
              "{}: RoPE frequency factors ('rope_freqs.weight', Llama 3.1-style scaling) are not supported", path);
    fail("{}: unexpected tensor '{}' for a Llama model with this metadata", path, t.name);
  }
  if (const gguf::Value* shapes = f.find("zip.layer_shapes")) {
    ZIP_CHECK(shapes->type == gguf::ValueType::String, "{}: 'zip.layer_shapes' must be a string", path);
    remove_gguf_export_padding(m, std::string(shapes->s), path);
  }

  if (!opt.tokenizer_path.empty()) {
    TokenizerData t = *given_tokenizer(opt);
    if (t.chat_template.empty()) t.chat_template = chat_template(meta);
    m.tokenizer = std::make_shared<const TokenizerData>(std::move(t));
  } else {
    m.tokenizer = read_tokenizer(meta);
  }
  if (m.tokenizer)
    ZIP_CHECK(int64_t(m.tokenizer->pieces.size()) <= c.vocab_size, "tokenizer has {} pieces, more than vocab_size {}",
              m.tokenizer->pieces.size(), c.vocab_size);

  m.provenance = {{"source", path},
                  {"source_format", fmt::format("gguf v{}", f.version)},
                  {"source_dtype", type_summary(f)},
                  {"importer", "gguf"}};
  if (const gguf::Value* name = f.find("general.name"); name && name->type == gguf::ValueType::String)
    m.provenance["source_name"] = std::string(name->s);
  return m;
}

}  // namespace zip

// GGUF tokenizer metadata; see gguf_export_tokenizer.h.
#include "models/gguf_export_tokenizer.h"

#include "engine/error.h"
#include "engine/tokenizer/byte_level.h"

namespace zip {

namespace {

// The engine's pre-tokenizer rule → llama.cpp's tokenizer.ggml.pre name (inverse of pre_rule).
std::string pre_name(const std::string& rule) {
  if (rule.empty() || rule == "gpt2") return "gpt-2";
  if (rule == "llama3") return "llama-bpe";
  if (rule == "smollm" || rule == "qwen2") return rule;
  fail("GGUF export: pre-tokenizer rule '{}' has no llama.cpp name", printable(rule));
}

std::string spm_spelling(const std::string& piece) {
  std::string s;
  for (char c : piece) s += c == ' ' ? std::string("\xE2\x96\x81") : std::string(1, c);
  return s;
}

// llama.cpp's converter: bracketed tokens ([CLS], [unused0]) as they are, "##x" → "x", "x" → "▁x".
// The GGUF importer inverts this; a piece it could not recover is refused.
std::string wordpiece_spelling(const std::string& piece, int32_t type) {
  const bool bracketed = piece.size() >= 2 && piece.front() == '[' && piece.back() == ']';
  if (type != kNormal || bracketed) return piece;
  const std::string s = piece.starts_with("##") ? piece.substr(2) : "\xE2\x96\x81" + piece;
  const bool back_bracketed = s.size() >= 2 && s.front() == '[' && s.back() == ']';
  ZIP_CHECK(!s.empty() && !back_bracketed && !(piece.starts_with("##") && s.starts_with("\xE2\x96\x81")),
            "GGUF export: WordPiece piece '{}' has no unambiguous llama.cpp spelling", printable(piece));
  return s;
}

}  // namespace

void write_gguf_tokenizer(gguf::Writer& w, const TokenizerData& t, int vocab_size) {
  const bool spm = t.type == "sentencepiece-bpe", bpe = t.type == "byte-bpe", wp = t.type == "wordpiece";
  ZIP_CHECK(spm || bpe || wp, "GGUF export: tokenizer type '{}' is not supported", printable(t.type));
  ZIP_CHECK(int64_t(t.pieces.size()) <= vocab_size, "GGUF export: the tokenizer has {} pieces, more than vocab_size {}",
            t.pieces.size(), vocab_size);
  std::vector<std::string> tokens;
  std::vector<int32_t> types;
  std::vector<float> scores;
  for (size_t i = 0; i < t.pieces.size(); i++) {
    const std::string& p = t.pieces[i];
    const int32_t ty = t.types[i];
    if (spm) tokens.push_back(ty == kByte ? p : spm_spelling(p));
    if (bpe) tokens.push_back(ty == kNormal ? bytes_to_byte_level(p) : p);
    if (wp) tokens.push_back(wordpiece_spelling(p, ty));
    types.push_back(ty);
    scores.push_back(spm ? t.scores[i] : 0.0f);
  }
  for (int i = int(t.pieces.size()); i < vocab_size; i++) {
    tokens.push_back(fmt::format("[PAD{}]", i));
    types.push_back(kUnused);
    scores.push_back(0.0f);
  }
  w.set_str("tokenizer.ggml.model", spm ? "llama" : bpe ? "gpt2" : "bert");
  if (bpe) w.set_str("tokenizer.ggml.pre", pre_name(t.pre));
  if (wp) w.set_str("tokenizer.ggml.pre", "default");
  w.set_str_array("tokenizer.ggml.tokens", tokens);
  if (spm || wp) w.set_f32_array("tokenizer.ggml.scores", scores);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  if (bpe) {
    std::vector<std::string> merges;
    merges.reserve(t.merges.size());
    for (const auto& [a, b] : t.merges) merges.push_back(tokens[size_t(a)] + " " + tokens[size_t(b)]);
    w.set_str_array("tokenizer.ggml.merges", merges);
  }
  auto id = [&](const char* key, int v) {
    if (v >= 0) w.set_u32(std::string("tokenizer.ggml.") + key, uint32_t(v));
  };
  id("bos_token_id", wp ? t.cls : t.bos);
  id("eos_token_id", wp ? t.sep : t.eos);
  id("unknown_token_id", t.unk);
  id("padding_token_id", t.pad);
  if (wp) {
    id("seperator_token_id", t.sep);  // llama.cpp's spelling
    id("cls_token_id", t.cls);
    id("mask_token_id", t.mask);
  }
  w.set_bool("tokenizer.ggml.add_bos_token", wp ? true : t.add_bos && t.bos >= 0);
  if (wp) w.set_bool("tokenizer.ggml.add_eos_token", true);
  if (!wp) w.set_bool("tokenizer.ggml.add_space_prefix", t.add_dummy_prefix);
  if (!t.chat_template.empty()) w.set_str("tokenizer.chat_template", t.chat_template);
}

}  // namespace zip

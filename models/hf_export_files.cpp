// Tokenizer and sentence-transformers files of an exported Hugging Face folder; see hf_export_files.h.
#include "models/hf_export_files.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/tokenizer/byte_level.h"
#include "engine/tokenizer/pretokenize.h"

namespace zip {

using json = nlohmann::ordered_json;

namespace {

json byte_level(bool add_prefix_space, bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", add_prefix_space}, {"trim_offsets", true}, {"use_regex", use_regex}};
}

// The pre-tokenizer of a byte-level rule, as hf_tokenizer_json.cpp's plan_byte_level reads it back.
json bpe_pre_tokenizer(const TokenizerData& t) {
  const bool apx = t.add_dummy_prefix;
  if (t.pre.empty() || t.pre == "gpt2") return byte_level(apx, true);
  if (t.pre == "smollm")
    return {{"type", "Sequence"},
            {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, byte_level(apx, true)}}};
  const PreTokenizerRule* rule = find_pretokenizer(t.pre);
  ZIP_CHECK(rule && rule->regex, "HF export: pre-tokenizer rule '{}' has no tokenizer.json form", printable(t.pre));
  json split = {{"type", "Split"}, {"pattern", {{"Regex", rule->regex}}}, {"behavior", "Isolated"}, {"invert", false}};
  return {{"type", "Sequence"}, {"pretokenizers", {split, byte_level(apx, false)}}};
}

// [BOS] $A (byte-level BPE with add_bos) or [CLS] $A [SEP] (WordPiece).
json template_processing(const TokenizerData& t, const std::vector<int>& before, const std::vector<int>& after) {
  json single = json::array(), specials = json::object();
  auto special = [&](int id) {
    specials[t.pieces[size_t(id)]] = {{"id", t.pieces[size_t(id)]}, {"ids", {id}}, {"tokens", {t.pieces[size_t(id)]}}};
    return json{{"SpecialToken", {{"id", t.pieces[size_t(id)]}, {"type_id", 0}}}};
  };
  for (int id : before) single.push_back(special(id));
  single.push_back({{"Sequence", {{"id", "A"}, {"type_id", 0}}}});
  for (int id : after) single.push_back(special(id));
  return {{"type", "TemplateProcessing"}, {"single", single}, {"pair", single}, {"special_tokens", specials}};
}

json tokenizer_json(const TokenizerData& t) {
  const bool bpe = t.type == "byte-bpe";
  json vocab = json::object(), added = json::array();
  for (size_t i = 0; i < t.pieces.size(); i++) {
    const int32_t ty = t.types[i];
    if (ty == kUnused) continue;
    const std::string key = bpe && ty == kNormal ? bytes_to_byte_level(t.pieces[i]) : t.pieces[i];
    ZIP_CHECK(!vocab.contains(key), "HF export: two tokens are spelled '{}' in tokenizer.json", printable(key));
    vocab[key] = i;
    if (ty == kControl || ty == kUserDefined)
      added.push_back({{"id", i}, {"content", t.pieces[i]}, {"single_word", false}, {"lstrip", false},
                       {"rstrip", false}, {"normalized", false}, {"special", ty == kControl}});
  }
  json j = {{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", added}};
  if (bpe) {
    json merges = json::array();
    for (const auto& [a, b] : t.merges)
      merges.push_back({bytes_to_byte_level(t.pieces[size_t(a)]), bytes_to_byte_level(t.pieces[size_t(b)])});
    j["normalizer"] = nullptr;
    j["pre_tokenizer"] = bpe_pre_tokenizer(t);
    j["post_processor"] = t.add_bos && t.bos >= 0 ? template_processing(t, {t.bos}, {}) : byte_level(true, true);
    j["decoder"] = byte_level(true, true);
    j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                  {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
                  {"ignore_merges", t.ignore_merges}, {"vocab", vocab}, {"merges", merges}};
  } else {
    j["normalizer"] = {{"type", "BertNormalizer"}, {"clean_text", t.clean_text},
                       {"handle_chinese_chars", t.handle_chinese_chars}, {"strip_accents", t.strip_accents},
                       {"lowercase", t.lowercase}};
    j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
    j["post_processor"] = t.cls >= 0 && t.sep >= 0 ? template_processing(t, {t.cls}, {t.sep}) : json(nullptr);
    j["decoder"] = {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}};
    j["model"] = {{"type", "WordPiece"}, {"unk_token", t.unk >= 0 ? t.pieces[size_t(t.unk)] : "[UNK]"},
                  {"continuing_subword_prefix", "##"}, {"max_input_chars_per_word", 100}, {"vocab", vocab}};
  }
  return j;
}

json tokenizer_config(const TokenizerData& t) {
  json c = {{"tokenizer_class", t.type == "wordpiece" ? "BertTokenizerFast" : "PreTrainedTokenizerFast"}};
  auto token = [&](const char* key, int id) {
    if (id >= 0) c[key] = t.pieces[size_t(id)];
  };
  token("bos_token", t.bos);
  token("eos_token", t.eos);
  token("unk_token", t.unk);
  token("pad_token", t.pad);
  if (t.type == "wordpiece") {
    token("cls_token", t.cls);
    token("sep_token", t.sep);
    token("mask_token", t.mask);
    c["do_lower_case"] = t.lowercase;
    c["strip_accents"] = t.strip_accents;
    c["tokenize_chinese_chars"] = t.handle_chinese_chars;
  } else {
    c["add_bos_token"] = t.add_bos && t.bos >= 0;
    c["add_prefix_space"] = t.add_dummy_prefix;
  }
  if (!t.chat_template.empty()) c["chat_template"] = t.chat_template;
  return c;
}

}  // namespace

void write_hf_tokenizer(const std::string& dir, const TokenizerData& t, std::vector<std::string>& notes) {
  if (t.type != "byte-bpe" && t.type != "wordpiece") {
    notes.push_back("the " + t.type + " tokenizer is not written (Hugging Face reads it from tokenizer.model); "
                    "copy the original tokenizer.model into the folder");
    return;
  }
  write_file_atomic(dir + "/tokenizer.json", tokenizer_json(t).dump(1) + "\n");
  write_file_atomic(dir + "/tokenizer_config.json", tokenizer_config(t).dump(2) + "\n");
}

void write_sentence_transformers(const std::string& dir, const ModelConfig& c) {
  json modules = json::array();
  modules.push_back({{"idx", 0}, {"name", "0"}, {"path", ""}, {"type", "sentence_transformers.models.Transformer"}});
  modules.push_back({{"idx", 1}, {"name", "1"}, {"path", "1_Pooling"}, {"type", "sentence_transformers.models.Pooling"}});
  if (c.normalize)
    modules.push_back(
        {{"idx", 2}, {"name", "2"}, {"path", "2_Normalize"}, {"type", "sentence_transformers.models.Normalize"}});
  std::filesystem::create_directories(dir + "/1_Pooling");
  write_file_atomic(dir + "/modules.json", modules.dump(2) + "\n");
  json pooling = {{"word_embedding_dimension", c.dim},
                  {"pooling_mode_cls_token", c.pooling == "cls"},
                  {"pooling_mode_mean_tokens", c.pooling == "mean"}};
  write_file_atomic(dir + "/1_Pooling/config.json", pooling.dump(2) + "\n");
  if (c.normalize) std::filesystem::create_directories(dir + "/2_Normalize");
}

}  // namespace zip

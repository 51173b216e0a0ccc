// Test helper for the byte-level BPE and WordPiece tokenizer tests: the shared GPT-2 and BERT
// vocabularies, golden-id readers, tokenizer.json builders, pre-tokenizer splitting.
#pragma once
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "engine/error.h"
#include "engine/file_io.h"
#include "engine/tensor.h"
#include "engine/tokenizer/pretokenize.h"
#include "engine/tokenizer/tokenizer.h"
#include "tests/test_util.h"

using namespace zip;
using nlohmann::json;

namespace {

inline std::string gpt2_dir() { return ztest::shared("models/gpt2-tokenizer"); }
inline std::string bert_vocab() { return ztest::shared("models/bert-base-uncased-vocab/vocab.txt"); }

inline Tokenizer make(TokenizerData d) { return Tokenizer(std::make_shared<const TokenizerData>(std::move(d))); }
inline Tokenizer load(const std::string& path) { return make(load_tokenizer(path)); }

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(text.data(), std::streamsize(text.size()));
  REQUIRE(f.good());
}

// llama.cpp's test-tokenizer-0 format: every text is followed by "\n__ggml_vocab_test__\n".
inline std::vector<std::string> golden_texts(const std::string& name) {
  const std::string inp = read_file(ztest::shared("golden/tokenizers/" + name + ".inp"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  for (size_t hit; (hit = inp.find(sep, pos)) != std::string::npos; pos = hit + sep.size())
    texts.push_back(inp.substr(pos, hit - pos));
  REQUIRE(pos == inp.size());
  return texts;
}

inline std::vector<std::vector<int>> golden_ids(const std::string& name) {
  std::vector<std::vector<int>> lines;
  std::istringstream in(read_file(ztest::shared("golden/tokenizers/" + name + ".out")));
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::vector<int> ids;
    for (int id; ls >> id;) ids.push_back(id);
    lines.push_back(ids);
  }
  return lines;
}

// GPT-2's vocabulary as a Hugging Face tokenizer.json, merges as "a b" strings or ["a", "b"].
inline json gpt2_tokenizer_json(bool pair_merges) {
  json merges = json::array();
  std::istringstream in(read_file(gpt2_dir() + "/merges.txt"));
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("#version")) continue;
    size_t sp = line.find(' ');
    if (pair_merges)
      merges.push_back(json::array({line.substr(0, sp), line.substr(sp + 1)}));
    else
      merges.push_back(line);
  }
  return {{"version", "1.0"},
          {"added_tokens", json::array({{{"id", 50256},
                                         {"content", "<|endoftext|>"},
                                         {"single_word", false},
                                         {"lstrip", false},
                                         {"rstrip", false},
                                         {"normalized", true},
                                         {"special", true}}})},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}}},
          {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}}},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", ""},
            {"end_of_word_suffix", ""},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"vocab", json::parse(read_file(gpt2_dir() + "/vocab.json"))},
            {"merges", merges}}}};
}

// BERT's vocab.txt as a tokenizer.json (what BertTokenizerFast saves).
inline json bert_tokenizer_json(bool template_processing) {
  json vocab = json::object();
  std::istringstream in(read_file(bert_vocab()));
  int id = 0;
  for (std::string line; std::getline(in, line);) vocab[line] = id++;
  json added = json::array();
  for (auto [i, name] : {std::pair{0, "[PAD]"}, {100, "[UNK]"}, {101, "[CLS]"}, {102, "[SEP]"}, {103, "[MASK]"}})
    added.push_back({{"id", i}, {"content", name}, {"special", true}, {"normalized", false}});
  json post = {{"type", "BertProcessing"}, {"sep", {"[SEP]", 102}}, {"cls", {"[CLS]", 101}}};
  if (template_processing) {
    auto special = [](const char* s, int type) { return json{{"SpecialToken", {{"id", s}, {"type_id", type}}}}; };
    auto seq = [](const char* s, int type) { return json{{"Sequence", {{"id", s}, {"type_id", type}}}}; };
    post = {{"type", "TemplateProcessing"},
            {"single", {special("[CLS]", 0), seq("A", 0), special("[SEP]", 0)}},
            {"pair", {special("[CLS]", 0), seq("A", 0), special("[SEP]", 0), seq("B", 1), special("[SEP]", 1)}},
            {"special_tokens",
             {{"[CLS]", {{"id", "[CLS]"}, {"ids", {101}}, {"tokens", {"[CLS]"}}}},
              {"[SEP]", {{"id", "[SEP]"}, {"ids", {102}}, {"tokens", {"[SEP]"}}}}}}};
  }
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer",
           {{"type", "BertNormalizer"},
            {"clean_text", true},
            {"handle_chinese_chars", true},
            {"strip_accents", nullptr},
            {"lowercase", true}}},
          {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
          {"post_processor", post},
          {"decoder", {{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}},
          {"model",
           {{"type", "WordPiece"},
            {"unk_token", "[UNK]"},
            {"continuing_subword_prefix", "##"},
            {"max_input_chars_per_word", 100},
            {"vocab", vocab}}}};
}

inline std::vector<std::string> split(const char* rule, std::string_view text) {
  std::vector<std::string_view> parts;
  pretokenize(*find_pretokenizer(rule), text, parts);
  return std::vector<std::string>(parts.begin(), parts.end());
}

}  // namespace

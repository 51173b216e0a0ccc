// Byte-level BPE (GPT-2) and WordPiece (BERT) tokenizers: golden ids from the Hugging Face
// tokenizers (llama.cpp's test vectors), the pre-tokenizer rules, special tokens, sentence pairs,
// tokenizer.json / tokenizer_config.json loading, .zlm embedding and malformed inputs.
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

std::string gpt2_dir() { return ztest::shared("models/gpt2-tokenizer"); }
std::string bert_vocab() { return ztest::shared("models/bert-base-uncased-vocab/vocab.txt"); }

Tokenizer make(TokenizerData d) { return Tokenizer(std::make_shared<const TokenizerData>(std::move(d))); }
Tokenizer load(const std::string& path) { return make(load_tokenizer(path)); }

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(text.data(), std::streamsize(text.size()));
  REQUIRE(f.good());
}

// llama.cpp's test-tokenizer-0 format: every text is followed by "\n__ggml_vocab_test__\n".
std::vector<std::string> golden_texts(const std::string& name) {
  const std::string inp = read_file(ztest::shared("golden/tokenizers/" + name + ".inp"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  for (size_t hit; (hit = inp.find(sep, pos)) != std::string::npos; pos = hit + sep.size())
    texts.push_back(inp.substr(pos, hit - pos));
  REQUIRE(pos == inp.size());
  return texts;
}

std::vector<std::vector<int>> golden_ids(const std::string& name) {
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
json gpt2_tokenizer_json(bool pair_merges) {
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
json bert_tokenizer_json(bool template_processing) {
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

std::vector<std::string> split(const char* rule, std::string_view text) {
  std::vector<std::string_view> parts;
  pretokenize(*find_pretokenizer(rule), text, parts);
  return std::vector<std::string>(parts.begin(), parts.end());
}

}  // namespace

TEST_CASE("Tokenizer: GPT-2 byte-level BPE golden ids (vocab.json + merges.txt)") {
  auto texts = golden_texts("gpt2");
  auto expected = golden_ids("gpt2");
  REQUIRE(texts.size() == expected.size());
  REQUIRE(texts.size() == 46);
  for (const std::string& path : {gpt2_dir(), gpt2_dir() + "/vocab.json", gpt2_dir() + "/merges.txt"}) {
    CAPTURE(path);
    Tokenizer tok = load(path);
    CHECK(tok.vocab_size() == 50257);
    CHECK(tok.data().type == "byte-bpe");
    CHECK(tok.data().pre == "gpt2");
    CHECK(tok.data().merges.size() == 50000);
    CHECK(tok.bos() == 50256);
    CHECK(tok.eos() == 50256);
    int mismatches = 0;
    for (size_t i = 0; i < texts.size(); i++) {
      CAPTURE(i);
      CAPTURE(texts[i]);
      auto ids = tok.encode(texts[i]);  // GPT-2 adds no BOS
      CHECK(ids == expected[i]);
      mismatches += ids != expected[i];
      CHECK(tok.decode(ids) == texts[i]);
    }
    CHECK(mismatches == 0);
  }
  Tokenizer tok = load(gpt2_dir());
  CHECK(tok.encode("Hello world") == std::vector<int>{15496, 995});
  CHECK(tok.data().pieces[15496] == "Hello");
  CHECK(tok.data().pieces[995] == " world");  // stored decoded: "Ġworld" is " world"
  CHECK(tok.decode_piece(15496, 995) == " world");
}

TEST_CASE("Tokenizer: BERT WordPiece golden ids (vocab.txt)") {
  auto texts = golden_texts("bert-uncased");
  auto expected = golden_ids("bert-uncased");
  REQUIRE(texts.size() == expected.size());
  REQUIRE(texts.size() == 46);
  for (const std::string& path : {bert_vocab(), ztest::shared("models/bert-base-uncased-vocab")}) {
    CAPTURE(path);
    Tokenizer tok = load(path);
    CHECK(tok.vocab_size() == 30522);
    CHECK(tok.data().type == "wordpiece");
    CHECK(tok.data().cls == 101);
    CHECK(tok.data().sep == 102);
    CHECK(tok.data().mask == 103);
    CHECK(tok.data().unk == 100);
    CHECK(tok.data().pad == 0);
    int mismatches = 0;
    for (size_t i = 0; i < texts.size(); i++) {
      CAPTURE(i);
      CAPTURE(texts[i]);
      auto ids = tok.encode(texts[i], false);
      CHECK(ids == expected[i]);
      mismatches += ids != expected[i];
      // add_special wraps in [CLS] ... [SEP].
      auto wrapped = tok.encode(texts[i]);
      REQUIRE(wrapped.size() == ids.size() + 2);
      CHECK(wrapped.front() == 101);
      CHECK(wrapped.back() == 102);
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("Tokenizer: GPT-2 encoding round-trips any bytes and the whole of wikitext-2 test") {
  Tokenizer tok = load(gpt2_dir());
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; trial++) {
    std::string s(size_t(rng() % 64), '\0');
    for (char& c : s) c = char(rng() % 4 == 0 ? rng() : "aZ 9\n'\xC3\xA9\xE2\x82\xAC."[rng() % 12]);
    CAPTURE(trial);
    CHECK(tok.decode(tok.encode(s)) == s);  // invalid UTF-8 included: byte-level loses nothing
  }
  const std::string wiki = read_file(ztest::shared("data/wikitext-2-raw/wiki.test.raw"));
  auto ids = tok.encode(wiki);
  CHECK(ids.size() == 286178);  // Hugging Face tokenizers' count for the same bytes
  CHECK(tok.decode(ids) == wiki);
}

TEST_CASE("Tokenizer: pre-tokenizer rules split like the reference regexes") {
  const std::string text = "Hello, y'all! How're you ... I'VE 12345 apples\n\n  \tok\r\n";
  using V = std::vector<std::string>;
  CHECK(split("gpt2", text) == V{"Hello", ",", " y", "'", "all", "!", " How", "'re", " you", " ...", " I", "'",
                                 "VE", " 12345", " apples", "\n\n  ", "\t", "ok", "\r\n"});
  CHECK(split("llama3", text) == V{"Hello", ",", " y", "'all", "!", " How", "'re", " you", " ...", " I", "'VE", " ",
                                   "123", "45", " apples", "\n\n", "  ", "\tok", "\r\n"});
  CHECK(split("qwen2", text) == V{"Hello", ",", " y",   "'all", "!", " How", "'re", " you",    " ...", " I", "'VE",
                                  " ",     "1", "2",  "3",    "4", "5", " apples", "\n\n", "  ", "\tok", "\r\n"});
  CHECK(split("smollm", text) == V{"Hello", ",", " y", "'", "all", "!", " How", "'re", " you", " ...", " I", "'", "VE",
                                   " ", "1", "2", "3", "4", "5", " apples", "\n\n  ", "\t", "ok", "\r\n"});
  CHECK(split("gpt2", "  x 2024-01-01  ") == V{" ", " x", " 2024", "-", "01", "-", "01", "  "});
  CHECK(split("llama3", "  x 2024-01-01  ") == V{" ", " x", " ", "202", "4", "-", "01", "-", "01", "  "});
  // (?i) takes U+017F (ſ) for an 's'; \s includes U+00A0 and U+2003.
  const std::string odd = "\xC5\xBF'\xC5\xBF 'Ll \xC2\xA0\xE2\x80\x83" "end";
  CHECK(split("gpt2", odd) == V{"\xC5\xBF", "'", "\xC5\xBF", " '", "Ll", " \xC2\xA0", "\xE2\x80\x83", "end"});
  CHECK(split("llama3", odd) == V{"\xC5\xBF", "'\xC5\xBF", " '", "Ll", " \xC2\xA0", "\xE2\x80\x83" "end"});
  // Invalid UTF-8 bytes are symbols, kept.
  CHECK(split("gpt2", "a\xFF\xFE b") == V{"a", "\xFF\xFE", " b"});
  CHECK(split("gpt2", "").empty());
  CHECK(find_pretokenizer("gpt-4") == nullptr);
}

TEST_CASE("Tokenizer: byte-level BPE merges by rank, leftmost first, on a small vocabulary") {
  // Pieces: the 256 bytes, then merges a+b (rank 0), b+c (rank 1), ab+c (rank 2), c+c (rank 3).
  TokenizerData d;
  d.type = "byte-bpe";
  d.pre = "gpt2";
  d.add_bos = false;
  d.add_dummy_prefix = false;
  d.byte_fallback = false;
  for (int b = 0; b < 256; b++) d.pieces.push_back(std::string(1, char(b)));
  for (const char* p : {"ab", "bc", "abc", "cc"}) d.pieces.push_back(p);
  d.scores.assign(d.pieces.size(), 0);
  d.types.assign(d.pieces.size(), kNormal);
  d.merges = {{'a', 'b'}, {'b', 'c'}, {256, 'c'}, {'c', 'c'}};
  const int ab = 256, bc = 257, abc = 258, cc = 259;
  {
    Tokenizer tok = make(d);
    CHECK(tok.encode("abc") == std::vector<int>{abc});              // a+b first (rank 0), then ab+c
    CHECK(tok.encode("bcab") == std::vector<int>{bc, ab});
    CHECK(tok.encode("ccc") == std::vector<int>{cc, 'c'});          // leftmost pair of equal rank
    CHECK(tok.encode("abcc") == std::vector<int>{abc, 'c'});        // ab+c (rank 2) before c+c (rank 3)
    CHECK(tok.encode("x abc") == std::vector<int>{'x', ' ', abc});  // " a" is not a piece
    CHECK(tok.decode({abc, cc}) == "abccc");
  }
  SUBCASE("ignore_merges takes a whole pre-token that is a piece") {
    d.pieces.push_back("ca");
    d.scores.push_back(0);
    d.types.push_back(kNormal);
    const int ca = int(d.pieces.size()) - 1;
    CHECK(make(d).encode("ca") == std::vector<int>{'c', 'a'});  // no merge makes "ca"
    d.ignore_merges = true;
    CHECK(make(d).encode("ca") == std::vector<int>{ca});
  }
  SUBCASE("add_prefix_space") {
    d.add_dummy_prefix = true;
    CHECK(make(d).encode("ab") == std::vector<int>{' ', ab});
    CHECK(make(d).encode(" ab") == std::vector<int>{' ', ab});
  }
  SUBCASE("a byte without a piece is dropped, or <unk>") {
    d.types['z'] = kUnused;
    CHECK(make(d).encode("zab") == std::vector<int>{ab});
    d.unk = 'q';
    CHECK(make(d).encode("zab") == std::vector<int>{'q', ab});
  }
}

TEST_CASE("Tokenizer: special tokens are matched in text only with parse_special") {
  Tokenizer gpt2 = load(gpt2_dir());
  const std::string text = "a<|endoftext|>b";
  auto plain = gpt2.encode(text);
  CHECK(plain.size() > 3);
  CHECK(std::find(plain.begin(), plain.end(), 50256) == plain.end());
  CHECK(gpt2.encode(text, true, true) == std::vector<int>{64, 50256, 65});
  CHECK(gpt2.decode({64, 50256, 65}) == "ab");  // control tokens decode to nothing
  CHECK(gpt2.decode_piece(64, 50256).empty());

  Tokenizer bert = load(bert_vocab());
  CHECK(bert.encode("hi [SEP] there", false) == std::vector<int>{7632, 1031, 19802, 1033, 2045});
  CHECK(bert.encode("hi [SEP] there", false, true) == std::vector<int>{7632, 102, 2045});

  // SentencePiece: as llama.cpp, the text after a special token gets the dummy-prefix space again.
  Tokenizer llama = load(ztest::shared("models/llama2-tokenizer-32k/tokenizer.model"));
  std::vector<int> expect = {1};
  for (int id : llama.encode("Hello", false)) expect.push_back(id);
  CHECK(llama.encode("<s>Hello", false, true) == expect);
  CHECK(llama.encode("<s>Hello", false).front() != 1);

  SUBCASE("non-special added tokens are always cut out") {
    TokenizerData d = load_tokenizer(gpt2_dir());
    d.pieces.push_back("<tool>");
    d.scores.push_back(0);
    d.types.push_back(kUserDefined);
    Tokenizer tok = make(d);
    CHECK(tok.encode("x<tool>y") == std::vector<int>{87, 50257, 88});
    CHECK(tok.decode({87, 50257, 88}) == "x<tool>y");
  }
}

TEST_CASE("Tokenizer: WordPiece sentence pairs, token types and decoding") {
  Tokenizer bert = load(bert_vocab());
  auto pair = bert.encode_pair("Is this it?", "Yes it is.");
  CHECK(pair.ids == std::vector<int>{101, 2003, 2023, 2009, 1029, 102, 2748, 2009, 2003, 1012, 102});
  CHECK(pair.type_ids == std::vector<int>{0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1});
  auto single = bert.encode_with_types("Is this it?");
  CHECK(single.ids == std::vector<int>{101, 2003, 2023, 2009, 1029, 102});
  CHECK(single.type_ids == std::vector<int>(6, 0));
  CHECK(bert.encode_with_types("Is this it?", false).ids == std::vector<int>{2003, 2023, 2009, 1029});
  CHECK_THROWS_AS(load(gpt2_dir()).encode_pair("a", "b"), zip::Error);

  // Hugging Face's WordPiece decoder (with cleanup) and skip_special_tokens.
  auto ids = bert.encode("Hello, world! Don't do not stop.");
  CHECK(ids == std::vector<int>{101, 7592, 1010, 2088, 999, 2123, 1005, 1056, 2079, 2025, 2644, 1012, 102});
  CHECK(bert.decode(ids) == "hello, world! don ' t do not stop.");
  CHECK(bert.decode(bert.encode("unaffable tokenization ##x")) == "unaffable tokenization # # x");
  CHECK(bert.decode(pair.ids) == "is this it? yes it is.");
  CHECK(bert.decode_piece(-1, 14477) == "una");
  CHECK(bert.decode_piece(14477, 20961) == "ffa");  // ##ffa continues the word
  CHECK(bert.decode_piece(7592, 1010) == ",");

  // Words over 100 characters, and words with no pieces, are one [UNK].
  CHECK(bert.encode(std::string(101, 'a'), false) == std::vector<int>{100});
  CHECK(bert.encode(std::string(100, 'a'), false).size() > 1);
  CHECK(bert.encode("\xF0\x9F\xA6\x99x", false) == std::vector<int>{100});
}

TEST_CASE("Tokenizer: tokenizer.json byte-level BPE and WordPiece give the vocab file ids") {
  const std::string dir = ztest::temp_dir();
  const auto gpt2_texts = golden_texts("gpt2");
  const auto gpt2_ids = golden_ids("gpt2");
  for (bool pair_merges : {false, true}) {
    CAPTURE(pair_merges);
    write_text(dir + "/tokenizer.json", gpt2_tokenizer_json(pair_merges).dump());
    TokenizerData t = load_tokenizer(dir);
    CHECK(t == load_tokenizer(gpt2_dir()));
    Tokenizer tok = make(t);
    for (size_t i = 0; i < gpt2_texts.size(); i++) CHECK(tok.encode(gpt2_texts[i]) == gpt2_ids[i]);
  }
  const auto bert_texts = golden_texts("bert-uncased");
  const auto bert_ids = golden_ids("bert-uncased");
  for (bool templ : {false, true}) {
    CAPTURE(templ);
    write_text(dir + "/tokenizer.json", bert_tokenizer_json(templ).dump());
    TokenizerData t = load_tokenizer(dir + "/tokenizer.json");
    CHECK(t == load_tokenizer(bert_vocab()));
    Tokenizer tok = make(t);
    for (size_t i = 0; i < bert_texts.size(); i++) CHECK(tok.encode(bert_texts[i], false) == bert_ids[i]);
  }

  SUBCASE("Llama 3 style: Split(regex) + ByteLevel, BOS template, ignore_merges") {
    json j = gpt2_tokenizer_json(true);
    j["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
       "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})");
    j["post_processor"] = json::parse(R"({"type": "Sequence", "processors": [
      {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true},
      {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}},
        {"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {}}]})");
    j["model"]["ignore_merges"] = true;
    write_text(dir + "/tokenizer.json", j.dump());
    TokenizerData t = load_tokenizer(dir);
    CHECK(t.pre == "llama3");
    CHECK(t.ignore_merges);
    CHECK(t.add_bos);
    CHECK(t.bos == 50256);
    CHECK(make(t).encode("Hello world 12345") == std::vector<int>{50256, 15496, 995, 220, 10163, 2231});
  }
  SUBCASE("SmolLM style: Digits + ByteLevel") {
    json j = gpt2_tokenizer_json(false);
    j["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Digits", "individual_digits": true}, {"type": "ByteLevel", "add_prefix_space": false}]})");
    write_text(dir + "/tokenizer.json", j.dump());
    CHECK(load_tokenizer(dir).pre == "smollm");
  }
}

TEST_CASE("Tokenizer: directory search order, tokenizer.json fallback and tokenizer_config.json") {
  const std::string dir = ztest::temp_dir();
  const std::string sp_model = read_file(ztest::shared("models/llama2-tokenizer-32k/tokenizer.model"));
  // A Llama-style tokenizer.json (SentencePiece BPE with byte fallback): not supported.
  json llama = {{"model", {{"type", "BPE"}, {"byte_fallback", true}, {"vocab", {{"a", 0}}}, {"merges", json::array()}}},
                {"normalizer", nullptr},
                {"pre_tokenizer", {{"type", "Metaspace"}}}};
  write_text(dir + "/tokenizer.json", llama.dump());
  try {
    load_tokenizer(dir);
    FAIL("accepted a SentencePiece-style tokenizer.json");
  } catch (const zip::Error& e) {
    CHECK(std::string(e.what()).find("tokenizer.json of this kind is not supported") != std::string::npos);
  }
  CHECK_FALSE(is_supported_hf_tokenizer_json(dir + "/tokenizer.json"));
  write_text(dir + "/tokenizer.model", sp_model);
  CHECK(load_tokenizer(dir).type == "sentencepiece-bpe");  // falls back to tokenizer.model
  std::filesystem::remove(dir + "/tokenizer.json");
  // vocab.json + merges.txt come before vocab.txt and tokenizer.model.
  write_text(dir + "/vocab.txt", read_file(bert_vocab()));
  CHECK(load_tokenizer(dir).type == "wordpiece");
  write_text(dir + "/vocab.json", read_file(gpt2_dir() + "/vocab.json"));
  write_text(dir + "/merges.txt", read_file(gpt2_dir() + "/merges.txt"));
  CHECK(load_tokenizer(dir).type == "byte-bpe");

  SUBCASE("tokenizer_config.json: cased BERT and named specials") {
    const std::string bert = ztest::temp_dir();
    write_text(bert + "/vocab.txt", read_file(bert_vocab()));
    write_text(bert + "/tokenizer_config.json", R"({"do_lower_case": false, "model_max_length": 512})");
    TokenizerData t = load_tokenizer(bert);
    CHECK_FALSE(t.lowercase);
    CHECK_FALSE(t.strip_accents);
    CHECK(make(t).encode("Hello", false) == std::vector<int>{100});  // no "Hello" piece when cased
    write_text(bert + "/tokenizer_config.json", R"({"do_lower_case": "no"})");
    CHECK_THROWS_AS(load_tokenizer(bert), zip::Error);

    const std::string gpt = ztest::temp_dir();
    write_text(gpt + "/vocab.json", read_file(gpt2_dir() + "/vocab.json"));
    write_text(gpt + "/merges.txt", read_file(gpt2_dir() + "/merges.txt"));
    write_text(gpt + "/tokenizer_config.json",
               R"({"bos_token": {"content": "Hello", "__type": "AddedToken"}, "add_bos_token": true})");
    TokenizerData g = load_tokenizer(gpt);
    CHECK(g.bos == 15496);
    CHECK(g.add_bos);
    CHECK(g.eos == 50256);
  }
}

TEST_CASE("Tokenizer: .zlm round trip of byte-bpe and wordpiece vocabularies") {
  for (const std::string& path : {gpt2_dir(), bert_vocab()}) {
    CAPTURE(path);
    TokenizerData t = load_tokenizer(path);
    json meta = json::object();
    std::map<std::string, Tensor> tensors;
    tokenizer_to_zlm(t, meta, tensors);
    CHECK(meta["type"] == t.type);
    CHECK(tensors.size() == (t.type == "byte-bpe" ? 5u : 4u));
    if (t.type == "byte-bpe") CHECK(tensors.at("tokenizer.merges").dim(0) == 100000);
    TokenizerData back = tokenizer_from_zlm(json::parse(meta.dump()), tensors);
    CHECK(back == t);
  }
  // Files written before these fields existed still load, with the defaults.
  TokenizerData sp = load_tokenizer(ztest::shared("models/stories260K/tok512.bin"));
  json meta = json::object();
  std::map<std::string, Tensor> tensors;
  tokenizer_to_zlm(sp, meta, tensors);
  for (const char* key : {"cls", "sep", "mask", "pre", "n_merges", "ignore_merges", "clean_text",
                          "handle_chinese_chars", "strip_accents", "lowercase"})
    meta.erase(key);
  CHECK(tokenizer_from_zlm(meta, tensors) == sp);
}

TEST_CASE("Tokenizer: invalid or corrupt vocab.json, merges.txt, vocab.txt and tokenizer.json are errors") {
  const std::string dir = ztest::temp_dir();
  const std::string vocab = read_file(gpt2_dir() + "/vocab.json");
  const std::string merges = read_file(gpt2_dir() + "/merges.txt");
  auto gpt2_rejects = [&](const std::string& v, const std::string& m) {
    write_text(dir + "/vocab.json", v);
    write_text(dir + "/merges.txt", m);
    CHECK_THROWS_AS(load_tokenizer(dir), zip::Error);
    CHECK_THROWS_AS(load_gpt2_vocab(dir + "/vocab.json", dir + "/merges.txt"), zip::Error);
  };
  gpt2_rejects("", merges);                                          // empty
  gpt2_rejects(vocab.substr(0, vocab.size() / 2), merges);           // truncated JSON
  gpt2_rejects("[1, 2, 3]", merges);                                 // not an object
  gpt2_rejects(R"({"a": "0", "b": 1})", "a b\n");                    // id not an integer
  gpt2_rejects(R"({"a": -1})", "");                                  // negative id
  gpt2_rejects(R"({"a": 2000000000})", "");                          // absurd id
  gpt2_rejects(R"({"a": 0, "b": 0})", "");                           // duplicate id
  gpt2_rejects(vocab, merges + "\xC4\xA0zzqq \xC4\xA0xxyy\n");      // merge of unknown symbols
  gpt2_rejects(R"({"a": 0, "b": 1})", "a b\n");                      // merged token not in the vocabulary
  gpt2_rejects(vocab, "#version: 0.2\n\xC4\xA0 t x\n");             // three tokens on a line
  gpt2_rejects(vocab, "#version: 0.2\nnospace\n");
  gpt2_rejects(vocab, "#version: 0.2\n\n");                          // empty line
  {
    write_text(dir + "/vocab.json", vocab);
    write_text(dir + "/merges.txt", merges);
    CHECK(load_tokenizer(dir).merges.size() == 50000);
  }

  const std::string wp = ztest::temp_dir();
  write_text(wp + "/vocab.txt", "");
  CHECK_THROWS_AS(load_tokenizer(wp), zip::Error);
  CHECK_THROWS_AS(load_wordpiece_vocab(wp + "/vocab.txt"), zip::Error);
  // A vocabulary without [UNK] loads, but a word it cannot cover is an error, not a crash.
  write_text(wp + "/vocab.txt", "hello\n##s\n");
  Tokenizer tiny = load(wp + "/vocab.txt");
  CHECK(tiny.encode("hellos", false) == std::vector<int>{0, 1});
  CHECK_THROWS_AS(tiny.encode("bye", false), zip::Error);

  const std::string tj = ztest::temp_dir() + "/tokenizer.json";
  auto json_rejects = [&](const std::string& text) {
    write_text(tj, text);
    CHECK_THROWS_AS(load_tokenizer(tj), zip::Error);
    CHECK_THROWS_AS(load_hf_tokenizer_json(tj), zip::Error);
  };
  json_rejects("");
  json_rejects("{");
  json_rejects("[]");
  json_rejects(R"({"model": 3})");
  json_rejects(R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}})");  // a kind not supported
  std::mt19937 rng(3);
  for (int trial = 0; trial < 30; trial++) {
    std::string g(size_t(rng() % 500), '\0');
    for (char& c : g) c = char(rng());
    json_rejects(g);
  }
  json good = bert_tokenizer_json(true);
  auto with = [&](const std::function<void(json&)>& edit) {
    json j = good;
    edit(j);
    return j.dump();
  };
  json_rejects(with([](json& j) { j["model"]["vocab"] = json::array(); }));
  json_rejects(with([](json& j) { j["model"]["vocab"]["[UNK]"] = "100"; }));
  json_rejects(with([](json& j) { j["model"]["unk_token"] = "[NOPE]"; }));
  json_rejects(with([](json& j) { j["model"]["unk_token"] = 5; }));
  json_rejects(with([](json& j) { j["normalizer"]["lowercase"] = "yes"; }));
  json_rejects(with([](json& j) { j["added_tokens"] = json::object(); }));
  json_rejects(with([](json& j) { j["added_tokens"][0]["id"] = -5; }));
  json_rejects(with([](json& j) { j["added_tokens"][0]["content"] = 7; }));
  json_rejects(with([](json& j) { j["post_processor"]["single"] = 1; }));
  json_rejects(with([](json& j) { j["post_processor"]["single"][0]["SpecialToken"]["id"] = "[NOPE]"; }));
  json_rejects(with([](json& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }));
  json gbpe = gpt2_tokenizer_json(false);
  auto bpe_with = [&](const std::function<void(json&)>& edit) {
    json j = gbpe;
    edit(j);
    return j.dump();
  };
  json_rejects(bpe_with([](json& j) { j["model"]["merges"] = "a b"; }));
  json_rejects(bpe_with([](json& j) { j["model"]["merges"].push_back(json::array({"a"})); }));
  json_rejects(bpe_with([](json& j) { j["model"]["merges"].push_back(json::array({1, 2})); }));
  json_rejects(bpe_with([](json& j) { j["model"]["merges"].push_back("\xC4\xA0zzqq \xC4\xA0xxyy"); }));
  json_rejects(bpe_with([](json& j) { j["pre_tokenizer"]["use_regex"] = "yes"; }));
  json_rejects(bpe_with([](json& j) {
    j["pre_tokenizer"] = json::parse(R"({"type": "Sequence", "pretokenizers": [
      {"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated", "invert": false},
      {"type": "ByteLevel", "use_regex": false}]})");
  }));
  json_rejects(bpe_with([](json& j) { j["normalizer"] = {{"type", "NFC"}}; }));
  json_rejects(bpe_with([](json& j) { j["model"]["dropout"] = 0.1; }));
}

TEST_CASE("Tokenizer: corrupt .zlm byte-bpe and wordpiece tokenizers are errors") {
  for (const std::string& path : {gpt2_dir(), bert_vocab()}) {
    CAPTURE(path);
    const TokenizerData t = load_tokenizer(path);
    json meta0 = json::object();
    std::map<std::string, Tensor> tensors0;
    tokenizer_to_zlm(t, meta0, tensors0);
    REQUIRE(tokenizer_from_zlm(meta0, tensors0) == t);
    auto copy = [&]() {
      std::map<std::string, Tensor> c;
      for (const auto& [name, x] : tensors0) {
        Tensor y = Tensor::zeros(x.dtype, x.shape);
        if (x.nbytes()) std::memcpy(y.data, x.data, x.nbytes());
        c[name] = y;
      }
      return c;
    };
    auto rejects = [&](const json& meta, const std::map<std::string, Tensor>& tensors) {
      CHECK_THROWS_AS(tokenizer_from_zlm(meta, tensors), zip::Error);
    };
    auto with = [&](const char* key, json v) {
      json m = meta0;
      m[key] = v;
      return m;
    };
    rejects(with("cls", 1 << 30), tensors0);
    rejects(with("sep", -2), tensors0);
    rejects(with("mask", "3"), tensors0);
    rejects(with("lowercase", 1), tensors0);
    rejects(with("pre", 5), tensors0);
    if (t.type == "byte-bpe") {
      rejects(with("pre", "gpt-5"), tensors0);
      rejects(with("n_merges", 49999), tensors0);
      rejects(with("n_merges", -1), tensors0);
      rejects(with("n_merges", 0), tensors0);  // the tensor is there but not announced
      auto c = copy();
      c.erase("tokenizer.merges");
      rejects(meta0, c);
      c = copy();
      c["tokenizer.merges"].dtype = DType::F32;
      rejects(meta0, c);
      c = copy();
      c["tokenizer.merges"].ptr<int32_t>()[10] = 50257;  // out of range
      rejects(meta0, c);
      c = copy();
      c["tokenizer.merges"].ptr<int32_t>()[11] = -1;
      rejects(meta0, c);
      c = copy();
      REQUIRE(std::find(t.pieces.begin(), t.pieces.end(), t.pieces[250] + t.pieces[251]) == t.pieces.end());
      c["tokenizer.merges"].ptr<int32_t>()[0] = 250;  // a merge that makes no piece
      c["tokenizer.merges"].ptr<int32_t>()[1] = 251;
      rejects(meta0, c);
      c = copy();
      c["tokenizer.types"].ptr<int32_t>()[5] = kByte;  // SentencePiece's byte type has no meaning here
      rejects(meta0, c);
    } else {
      rejects(with("n_merges", 3), tensors0);
    }
    {
      auto c = copy();
      c["tokenizer.offsets"].ptr<int32_t>()[100] = -4;
      rejects(meta0, c);
    }
  }
}
